/**
 * The committed table (results/ocr, results/chunking, results/segmentation: configs/paper.yaml; and
 * results/pos: configs/pos.yaml, beyond the paper) is one run of both files at one commit: every run
 * finished, one clean code commit, one back end, every planned cell there and nothing else, and a
 * checksum of every chunking and POS prediction file that agrees with the run's final.json.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { listRuns } from '../src/results/store.js';
import { plannedRunIds, ROOT } from './helpers.js';

const TABLES = [
  { config: 'configs/paper.yaml', tasks: ['ocr', 'chunking', 'segmentation'], count: 225 },
  { config: 'configs/pos.yaml', tasks: ['pos'], count: 100 },
];
const runs = TABLES.flatMap((t) => t.tasks.flatMap((task) => listRuns(join(ROOT, 'results', task))));

describe('the committed table', () => {
  it('holds every cell configs/paper.yaml and configs/pos.yaml plan, each finished, from one clean commit and one back end', async () => {
    const planned: string[] = [];
    for (const t of TABLES) {
      const ids = await plannedRunIds(join(ROOT, t.config));
      assert.equal(ids.length, t.count, t.config);
      planned.push(...ids);
    }
    const ids = new Set(runs.map((r) => r.run.id));
    assert.deepEqual(
      planned.filter((id) => !ids.has(id)),
      [],
      'planned cells with no committed run',
    );
    assert.equal(runs.length, 325, 'no run folder beyond the plan');
    assert.deepEqual([...new Set(runs.map((r) => r.run.status))], ['done']);
    const commits = new Set(runs.map((r) => `${r.run.git.commit} dirty=${r.run.git.dirty}`));
    assert.equal(commits.size, 1, [...commits].join(', '));
    assert.match([...commits][0]!, /^[0-9a-f]{40} dirty=false$/);
    assert.deepEqual([...new Set(runs.map((r) => r.run.backend?.name))], ['native'], 'one back end, native');
  });

  for (const task of ['chunking', 'pos'])
    it(`results/${task}/predictions.sha256 has one line per ${task} run, equal to its final.json checksum`, () => {
      const lines = readFileSync(join(ROOT, `results/${task}/predictions.sha256`), 'utf8')
        .trim()
        .split('\n');
      const listed = new Map(
        lines.map((l) => {
          const m = /^([0-9a-f]{64}) {2}(\S+)\/predictions\.conll$/.exec(l);
          assert.ok(m, `sha256sum format: ${l}`);
          return [m[2]!, m[1]!] as const;
        }),
      );
      const own = runs.filter((r) => r.run.task === task);
      assert.equal(own.length, 100);
      assert.equal(listed.size, own.length);
      for (const r of own) {
        const final = JSON.parse(readFileSync(join(r.dir, 'final.json'), 'utf8')) as { predictions_sha256: string };
        assert.equal(listed.get(basename(r.dir)), final.predictions_sha256, basename(r.dir));
        assert.equal(basename(dirname(r.dir)), task);
      }
    });
});
