import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { experimentSchema } from '../src/config/experiment.js';
import type { Mode } from '../src/core/constants.js';
import type { StructuredProblem, TrainData } from '../src/core/problem.js';
import { trainStructured } from '../src/train/trainer.js';
import type { EpochInput } from '../src/core/task.js';
import { Rng } from '../src/util/rng.js';
import { ROOT, tempDir } from './helpers.js';

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

/**
 * The smallest structured problem the trainer accepts: U and W are free vectors and the loss pulls
 * U towards 1 and W towards 0. Enough to run every mode's schedule and read the α it reports.
 */
function vectorProblem(): { problem: StructuredProblem<number[]>; data: TrainData<number[]>; dispose: () => void } {
  const u = tf.variable(tf.tensor1d([0.5, -0.2]));
  const w = tf.variable(tf.tensor1d([0.3, 0.1]));
  const toOne = (p: { unary: tf.Tensor; pairwise: tf.Tensor }) =>
    tf.reshape(tf.add(tf.sum(tf.square(tf.sub(p.unary, 1))), tf.sum(tf.square(p.pairwise))), [1]) as tf.Tensor1D;
  const problem: StructuredProblem<number[]> = {
    unaryParams: [u],
    pairwiseParams: [w],
    potentials: () => ({ unary: u, pairwise: w }),
    loss: (_objective, p) => toOne(p),
    unaryLoss: (p) => toOne(p),
    norms: (p) => ({ unary: tf.norm(p.unary), pairwise: tf.norm(p.pairwise) }),
    rescale: (p, a, c) => ({ unary: tf.mul(p.unary, a), pairwise: tf.mul(p.pairwise, c) }),
  };
  const data: TrainData<number[]> = { trainSize: 4, batch: (idx) => idx, dispose: () => {}, selection: [[0, 1]], validate: () => ({ v: 1 }) };
  return { problem, data, dispose: () => tf.dispose([u, w]) };
}

async function reportedAlpha(mode: Mode): Promise<{ alpha: number; records: EpochInput[] }> {
  const cfg = experimentSchema.parse({
    name: 't',
    task: 'x',
    objectives: ['ssvm'],
    modes: [mode],
    seeds: 1,
    train: { epochs: 2, batch_size: 2 },
    scaling: { alpha: 3, alpha_grid: [0.5, 2] },
  });
  const { problem, data, dispose } = vectorProblem();
  const records: EpochInput[] = [];
  try {
    const r = await trainStructured(problem, data, {
      objective: 'ssvm',
      mode,
      train: cfg.train,
      scaling: cfg.scaling,
      rng: new Rng(0),
      epoch: (x) => records.push(x),
      log: () => {},
    });
    return { alpha: r.alpha, records };
  } finally {
    dispose();
  }
}

describe('the α a run reports', () => {
  it('is scaling.alpha for offline and offline-reg, the last grid choice for online, 1 for stage and joint', async () => {
    for (const mode of ['offline', 'offline-reg'] as const) assert.equal((await reportedAlpha(mode)).alpha, 3, mode);
    const online = await reportedAlpha('online');
    assert.equal(online.alpha, online.records.at(-1)!.alpha);
    assert.ok([0.5, 2].includes(online.alpha));
    for (const mode of ['stage', 'joint'] as const) assert.equal((await reportedAlpha(mode)).alpha, 1, mode);
  });
});

const SCRIPT = join(ROOT, 'scripts/fix-final-alpha.ts');
const runScript = (...args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8' });

describe('scripts/fix-final-alpha.ts', () => {
  const FINAL = '{\n  "primary": "f1",\n  "metrics": {\n    "f1": 81.59602595945839,\n    "alpha": 1\n  },\n  "alpha": 1,\n  "test_tokens": 47377\n}\n';

  function run(root: string, name: string, mode: string, alpha: number, final = FINAL): string {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ mode, scaling: { alpha, norm: 'rms' } }, null, 2) + '\n');
    writeFileSync(join(dir, 'final.json'), final);
    return join(dir, 'final.json');
  }

  it('rewrites only the top-level alpha of offline and offline-reg runs, byte for byte otherwise', () => {
    const root = tempDir();
    const offline = run(root, 'a/offline', 'offline', 3);
    const reg = run(root, 'a/reg', 'offline-reg', 30);
    const online = run(root, 'b/online', 'online', 3);
    const right = run(root, 'b/right', 'offline', 1);
    const out = runScript(root);
    assert.equal(readFileSync(offline, 'utf8'), FINAL.replace('  "alpha": 1,', '  "alpha": 3,'));
    assert.equal(readFileSync(reg, 'utf8'), FINAL.replace('  "alpha": 1,', '  "alpha": 30,'));
    assert.equal(readFileSync(online, 'utf8'), FINAL, 'online α is the trained one, not the config');
    assert.equal(readFileSync(right, 'utf8'), FINAL);
    assert.match(out, /2 of 4 final\.json files corrected/);
    assert.match(runScript(root), /0 of 4 final\.json files corrected/, 'a second pass changes nothing');
  });

  it('refuses a final.json whose top-level alpha it cannot find exactly once', () => {
    const root = tempDir();
    run(root, 'x', 'offline', 3, '{"primary": "f1", "metrics": {}, "alpha": 1}');
    assert.throws(() => runScript(root), /x\/final\.json: no line ' {2}"alpha": …' at the top level/);
  });

  it('leaves no committed offline or offline-reg final.json with an α other than its config', () => {
    assert.match(runScript('--check', join(ROOT, 'results')), /^0 of \d+ final\.json files need/m);
  });
});
