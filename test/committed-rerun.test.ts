/**
 * The committed table reruns from this checkout: for each task, scripts/rerun-check.sh reruns the
 * shortest of its committed runs (by run.json's duration_s, so about a minute each) on the full data
 * and finds every file it writes byte for byte the same (metrics.jsonl without the epoch's seconds).
 * CI runs this on a clean clone of every commit, so the last commit is checked against the table by
 * construction. It needs the native addon (the table's back end) and the full data sets.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { listRuns } from '../src/results/store.js';
import { needs, REAL_DATA, ROOT, script, tempDir } from './helpers.js';

/** Each committed task, the config that makes it and the data sets its cells read. */
const TASKS = [
  { task: 'ocr', config: 'configs/ocr.yaml', data: ['ocr'] },
  { task: 'chunking', config: 'configs/chunking.yaml', data: ['conll2000', 'word-embeddings'] },
  { task: 'segmentation', config: 'configs/segmentation.yaml', data: ['weizmann-horse'] },
  { task: 'pos', config: 'configs/pos.yaml', data: ['conll2000', 'word-embeddings'] },
];

function shortestRun(task: string): string {
  const done = listRuns(join(ROOT, 'results', task)).filter((r) => r.run.status === 'done');
  assert.ok(done.length > 0, `results/${task} holds no finished run`);
  const seconds = (dir: string) => (JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { duration_s: number }).duration_s;
  return done.map((r) => r.dir).reduce((a, b) => (seconds(b) < seconds(a) ? b : a));
}

const suite = 'test/committed-rerun.test.ts';
describe('the committed table reruns byte for byte (one cell per task)', { ...needs('full-data', suite), ...needs('native', suite) }, () => {
  const data = tempDir('sps-committed-rerun-');
  before(() => REAL_DATA.prepare([...new Set(TASKS.flatMap((t) => t.data))], data));

  for (const { task, config } of TASKS)
    it(`${task}: the shortest committed run`, () => {
      const run = shortestRun(task);
      const r = script('rerun-check.sh', [config, relative(ROOT, run)], { env: { SPS_DATA_DIR: data }, timeoutMs: 20 * 60_000 });
      assert.equal(r.code, 0, `${relative(ROOT, run)}:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^identical$/m);
      assert.doesNotMatch(r.stdout, /^DIFFERS/m);
    });
});
