// Commands that train nothing must not load TensorFlow (docs/architecture.md, "Lazy loading"): each
// runs with a loader hook (fixtures/record-tensorflow.mjs) that records every `@tensorflow/` module
// the process resolves. The plugin tasks are loaded too, so their definitions are held to it as well.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, sps, tempDir, TOY_PLUGIN } from './helpers.js';

const HOOK = join(ROOT, 'test/fixtures/record-tensorflow.mjs');
const PLUGINS = `${TOY_PLUGIN}:${join(ROOT, 'test/fixtures/tagger-task.ts')}`;

/** Run `sps ARGS`; returns its result and the @tensorflow/ modules it resolved. */
function spsRecording(args: string[]): { code: number | null; stderr: string; resolved: string[] } {
  const dir = tempDir();
  const log = join(dir, 'tf.log');
  // An empty data folder: `sps datasets` then has nothing large to re-hash.
  const r = sps(args, { env: { NODE_OPTIONS: `--import tsx --import ${HOOK}`, SPS_RECORD_TF: log, SPS_PLUGINS: PLUGINS, SPS_DATA_DIR: join(dir, 'data') } });
  return { code: r.code, stderr: r.stderr, resolved: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [] };
}

describe('commands that train nothing load no TensorFlow', () => {
  const results = join(ROOT, 'results');
  const report = join(tempDir(), 'report');
  const badConfig = join(tempDir(), 'bad.yaml');
  writeFileSync(badConfig, 'name: bad\ntask: ocr\nobjectives: [log-likelihood]\nmodes: [joint]\nmodel:\n  presett: lenet5\n');
  const commands: [string, string[], number][] = [
    ['sps --help', ['--help'], 0],
    ['sps table', ['table', results], 0],
    ['sps table --by', ['table', join(results, 'ocr'), '--by', 'scaling.alpha'], 0],
    ['sps select refusing a test metric', ['select', join(results, 'ocr'), '--by', 'scaling.alpha', '--metric', 'accuracy'], 1],
    ['sps ls', ['ls', join(results, 'ocr')], 0],
    ['sps status', ['status', join(results, 'ocr')], 0],
    ['sps datasets', ['datasets'], 0],
    ['sps report', ['report', join(results, 'segmentation'), '--out', report], 0],
    ['sps report of a study (per setting)', ['report', join(results, 'studies', 'offline-reg', 'ocr'), '--out', report], 0],
    ['sps plot', ['plot', join(results, 'segmentation'), '--metric', 'val_iou', '--format', 'svg', '--out', report], 0],
    ['sps run --dry-run (the paper grid)', ['run', join(ROOT, 'configs/paper.yaml'), '--dry-run'], 0],
    ['sps run --dry-run (a plugin task)', ['run', join(ROOT, 'test/fixtures/toy.yaml'), '--dry-run', '--out', join(tempDir(), 'out')], 0],
    ['sps run with a config error', ['run', badConfig], 1],
  ];
  for (const [name, args, code] of commands) {
    it(name, () => {
      const r = spsRecording(args);
      assert.equal(r.code, code, r.stderr);
      assert.deepEqual(r.resolved, [], `${name} resolved TensorFlow modules:\n${r.resolved.join('\n')}`);
    });
  }

  it('the recorder sees a command that does load TensorFlow', () => {
    // Training one toy cell loads tfjs (in its worker): without this the checks above could pass blind.
    const out = join(tempDir(), 'out');
    const r = spsRecording([
      'run',
      join(ROOT, 'test/fixtures/toy.yaml'),
      '--out',
      out,
      'seeds=1',
      'objectives=[log-likelihood]',
      'train.epochs=1',
      '--no-table',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.resolved.some((l) => l.startsWith('@tensorflow/tfjs ')),
      r.resolved.join('\n'),
    );
  });
});
