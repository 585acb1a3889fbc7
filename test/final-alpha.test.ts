import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { experimentSchema } from '../src/config/schema.js';
import type { Mode } from '../src/config/constants.js';
import { trainStructured, type StructuredProblem, type TrainData } from '../src/train/trainer.js';
import type { EpochInput } from '../src/train/task.js';
import { Rng } from '../src/util/rng.js';

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
  const toOne = (p: { unary: tf.Tensor; pairwise: tf.Tensor }) => tf.reshape(tf.add(tf.sum(tf.square(tf.sub(p.unary, 1))), tf.sum(tf.square(p.pairwise))), [1]) as tf.Tensor1D;
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
  const cfg = experimentSchema.parse({ name: 't', task: 'x', objectives: ['ssvm'], modes: [mode], seeds: 1, train: { epochs: 2, batch_size: 2 }, scaling: { alpha: 3, alpha_grid: [0.5, 2] } });
  const { problem, data, dispose } = vectorProblem();
  const records: EpochInput[] = [];
  try {
    const r = await trainStructured(problem, data, { objective: 'ssvm', mode, train: cfg.train, scaling: cfg.scaling, rng: new Rng(0), epoch: (x) => records.push(x), log: () => {} });
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
