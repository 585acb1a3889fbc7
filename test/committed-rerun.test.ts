/**
 * The committed table reruns from this checkout: for each task, scripts/rerun-check.sh reruns one of
 * its committed runs on the full data and finds every file it writes byte for byte the same
 * (metrics.jsonl without the epoch's seconds; scripts/rerun-compare.ts). Each task is asked for a
 * different training mode, so that together they cover online, offline and offline-reg scaling and
 * stage's phases; within that mode the run is the shortest (run.json's duration_s), a minute or two
 * each. CI runs this on a clean clone of every commit, so the last commit is checked against the
 * table by construction. It needs the native addon (the table's back end) and the full data sets.
 */
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { listRuns } from '../src/results/store.js';
import { needs, REAL_DATA, ROOT, script, tempDir } from './helpers.js';

/** Each committed task, the config that makes it, the data sets its cells read, and the mode rerun. */
const TASKS = [
  { task: 'ocr', config: 'configs/ocr.yaml', data: ['ocr'], mode: 'online' },
  { task: 'chunking', config: 'configs/chunking.yaml', data: ['conll2000', 'word-embeddings'], mode: 'offline' },
  { task: 'segmentation', config: 'configs/segmentation.yaml', data: ['weizmann-horse'], mode: 'stage' },
  { task: 'pos', config: 'configs/pos.yaml', data: ['conll2000', 'word-embeddings'], mode: 'offline-reg' },
];

function shortestRun(task: string, mode: string): string {
  const done = listRuns(join(ROOT, 'results', task)).filter((r) => r.run.status === 'done' && r.run.mode === mode);
  assert.ok(done.length > 0, `results/${task} holds no finished ${mode} run`);
  return done.reduce((a, b) => (b.run.duration_s! < a.run.duration_s! ? b : a)).dir;
}

const suite = 'test/committed-rerun.test.ts';
describe('the committed table reruns byte for byte (one cell per task)', { ...needs('full-data', suite), ...needs('native', suite) }, () => {
  const data = tempDir('sps-committed-rerun-');
  before(() => REAL_DATA.prepare([...new Set(TASKS.flatMap((t) => t.data))], data));

  for (const { task, config, mode } of TASKS)
    it(`${task}: the shortest committed ${mode} run`, () => {
      const run = shortestRun(task, mode);
      const r = script('rerun-check.sh', [config, relative(ROOT, run)], { env: { SPS_DATA_DIR: data }, timeoutMs: 20 * 60_000 });
      assert.equal(r.code, 0, `${relative(ROOT, run)}:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^identical$/m);
      assert.doesNotMatch(r.stdout, /^DIFFERS/m);
    });
});
