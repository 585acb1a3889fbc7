/**
 * The committed paper table (results/ocr, results/chunking, results/segmentation) is one run of
 * configs/paper.yaml at one commit: every run finished, one clean code commit, every planned cell
 * there, and a checksum of every chunking prediction file that agrees with the run's final.json.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { listRuns } from '../src/results/store.js';
import { plannedRunIds, ROOT } from './helpers.js';

const TASKS = ['ocr', 'chunking', 'segmentation'];
const runs = TASKS.flatMap((t) => listRuns(join(ROOT, 'results', t)));

describe('the committed paper table', () => {
  it('holds every cell configs/paper.yaml plans, each finished, from one clean commit', async () => {
    const planned = await plannedRunIds(join(ROOT, 'configs/paper.yaml'));
    assert.equal(planned.length, 225);
    const ids = new Set(runs.map((r) => r.run.id));
    assert.deepEqual(
      planned.filter((id) => !ids.has(id)),
      [],
      'planned cells with no committed run',
    );
    assert.equal(runs.length, 225, 'no run folder beyond the plan');
    assert.deepEqual([...new Set(runs.map((r) => r.run.status))], ['done']);
    const commits = new Set(runs.map((r) => `${r.run.git.commit} dirty=${r.run.git.dirty}`));
    assert.equal(commits.size, 1, [...commits].join(', '));
    assert.match([...commits][0]!, /^[0-9a-f]{40} dirty=false$/);
  });

  it('results/chunking/predictions.sha256 has one line per chunking run, equal to its final.json checksum', () => {
    const lines = readFileSync(join(ROOT, 'results/chunking/predictions.sha256'), 'utf8').trim().split('\n');
    const listed = new Map(
      lines.map((l) => {
        const m = /^([0-9a-f]{64}) {2}(\S+)\/predictions\.conll$/.exec(l);
        assert.ok(m, `sha256sum format: ${l}`);
        return [m[2]!, m[1]!] as const;
      }),
    );
    const chunking = runs.filter((r) => r.run.task === 'chunking');
    assert.equal(chunking.length, 100);
    assert.equal(listed.size, chunking.length);
    for (const r of chunking) {
      const final = JSON.parse(readFileSync(join(r.dir, 'final.json'), 'utf8')) as { predictions_sha256: string };
      assert.equal(listed.get(basename(r.dir)), final.predictions_sha256, basename(r.dir));
      assert.equal(basename(dirname(r.dir)), 'chunking');
    }
  });
});
