/**
 * A task the paper did not test (the POS task) gets its own report section, marked as beyond the
 * paper, with the same claims C1–C4 and intervals as the paper's tasks and no paper numbers; the
 * paper's tasks keep their plain sections. Fake runs with known values (test/fixtures/fake-runs.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MODES } from '../src/core/constants.js';
import { loadPaperTable } from '../src/results/paper.js';
import { writeReport } from '../src/results/report/site.js';
import { writeFakeRun } from './fixtures/fake-runs.js';
import { tempDir } from './helpers.js';

describe('the report of a task beyond the paper', () => {
  it('has a section marked "beyond the paper", C1–C4 with intervals and no paper numbers; a paper task is not marked', async () => {
    const root = tempDir('sps-beyond-');
    for (const task of ['chunking', 'pos'])
      for (const mode of MODES)
        for (const seed of [0, 1, 2]) writeFakeRun(root, { task, objective: 'log-likelihood', mode, seed, value: (mode === 'joint' ? 90 : 95) + seed / 10 });
    const out = join(tempDir('sps-beyond-report-'), 'report');
    const r = await writeReport(root, { outDir: out, dataDir: tempDir(), paper: loadPaperTable() });

    const pos = r.claims.rows.filter((row) => row.task === 'pos');
    assert.deepEqual(
      pos.map((row) => row.claim),
      ['C1', 'C2', 'C3', 'C4'],
    );
    for (const row of pos) {
      assert.ok(row.ours !== null && row.ours.lo !== undefined, `${row.claim} has our interval`);
      assert.ok(Math.abs(row.ours.diff - 5) < 1e-9, `${row.claim}: d = 5`);
      assert.equal(row.paper, null, 'the paper has no POS numbers');
      assert.equal(row.verdict, 'reproduced');
    }

    const html = readFileSync(join(out, 'index.html'), 'utf8');
    assert.match(html, /<h2 id="task-pos" class="beyond-paper">pos: beyond the paper<\/h2>\n<p class="beyond-paper">The paper does not test this task\./);
    assert.match(html, /<h2 id="task-chunking">chunking<\/h2>/);
    assert.ok(html.indexOf('id="task-chunking"') < html.indexOf('id="task-pos"'), "the paper's tasks come first");
    assert.match(html, /<li>pos \(beyond the paper\): C1 /);
    assert.match(
      html,
      /<tr data-task="pos" data-objective="log-likelihood"><th>pos \/ log-likelihood \(beyond the paper\)<\/th>/,
      'the verdict matrix marks it',
    );
    assert.match(html, /<th>chunking \/ log-likelihood<\/th>/);
    assert.doesNotMatch(html, /chunking \(beyond the paper\)/);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /^## pos: beyond the paper\n\nThe paper does not test this task\./m);
    assert.match(md, /^## chunking\n/m);
  });
});
