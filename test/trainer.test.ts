import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { experimentSchema } from '../src/config/experiment.js';
import { modeTransform, phases, PROFILE_ENV, totalEpochs, trainStructured } from '../src/train/trainer.js';
import { K, tinyProblem } from './fixtures/tiny-chain.js';
import type { EpochInput } from '../src/core/task.js';
import { Rng } from '../src/util/rng.js';
import type { Mode } from '../src/core/constants.js';

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

function config(overrides: Record<string, unknown> = {}) {
  return experimentSchema.parse({ name: 't', task: 'x', objectives: ['log-likelihood'], modes: ['joint'], seeds: 1, ...overrides });
}

/** `validations`: the primary validation value each epoch reports, in order (default: always 1). */
async function train(mode: Mode, overrides: Record<string, unknown> = {}, validations?: number[]) {
  const t = tinyProblem(3);
  if (validations) {
    let epoch = 0;
    t.data.validate = () => ({ val_primary: validations[epoch++], val_other: -epoch });
  }
  const cfg = config(overrides);
  const records: EpochInput[] = [];
  const snapshots: number[][][] = [];
  const logs: string[] = [];
  const result = await trainStructured(t.problem, t.data, {
    objective: 'log-likelihood',
    mode,
    train: cfg.train,
    scaling: cfg.scaling,
    rng: new Rng(0),
    epoch: (r) => {
      records.push(r);
      snapshots.push([Array.from(t.Wu.dataSync()), Array.from(t.P.dataSync())]);
    },
    log: (line) => logs.push(line),
  });
  return { ...t, records, snapshots, result, logs };
}

describe('trainer schedules', () => {
  it('stage has three phases with their own epochs and learning rates; the others one', () => {
    const cfg = config({ train: { epochs: 4, stage: { unary_epochs: 2, pairwise_epochs: 1, joint_epochs: 3 } } });
    assert.deepEqual(
      phases('stage', cfg.train).map((p) => [p.name, p.epochs, p.lr, p.params]),
      [
        ['stage1-unary', 2, 1e-3, 'unary'],
        ['stage2-pairwise', 1, 1e-2, 'pairwise'],
        ['stage3-joint', 3, 5e-4, 'all'],
      ],
    );
    assert.equal(totalEpochs('stage', cfg.train), 6);
    assert.equal(totalEpochs('online', cfg.train), 4);
  });

  it('stage (1) moves only the unary part, stage (2) only the pairwise part', async () => {
    const r = await train('stage', { train: { stage: { unary_epochs: 1, pairwise_epochs: 1, joint_epochs: 1 }, batch_size: 8 } });
    const fresh = tinyProblem(3);
    const P0 = Array.from(fresh.P.dataSync());
    fresh.cleanup();
    const [[u1, p1], [u2, p2], [u3, p3]] = r.snapshots;
    assert.deepEqual(p1, P0, 'pairwise frozen during unary pre-training');
    assert.deepEqual(u2, u1, 'unary frozen during pairwise training');
    assert.notDeepEqual(p2, p1);
    assert.notDeepEqual(u3, u2);
    assert.notDeepEqual(p3, p2);
    assert.deepEqual(
      r.records.map((x) => x.phase),
      ['stage1-unary', 'stage2-pairwise', 'stage3-joint'],
    );
    r.cleanup();
  });
});

describe('scaling modes', () => {
  it('offline: the potentials trained and predicted with have ‖Û‖ = α and ‖Ŵ‖ = 1', () => {
    const t = tinyProblem(5);
    const cfg = config({ scaling: { alpha: 2.5, norm: 'frobenius', norm_over: 'batch' } });
    const transform = modeTransform('offline', t.problem, cfg.scaling, () => 1);
    const b = t.data.selection[0];
    const [nu, nw] = tf.tidy(() => {
      const p = transform(t.problem.potentials(b), b);
      const n = t.problem.norms(p, b, 'frobenius', 'batch');
      return [n.unary.dataSync()[0], n.pairwise.dataSync()[0]];
    });
    assert.ok(Math.abs(nu - 2.5) < 1e-4, `‖Û‖ = ${nu}`);
    assert.ok(Math.abs(nw - 1) < 1e-4, `‖Ŵ‖ = ${nw}`);
    t.cleanup();
  });

  it('online: α is re-chosen after every epoch as the grid minimiser of L_α, and the curve is logged', async () => {
    const grid = [0.25, 1, 4];
    const r = await train('online', { train: { epochs: 2, batch_size: 8 }, scaling: { alpha_grid: grid } });
    for (const rec of r.records) {
      assert.deepEqual(
        rec.alpha_curve!.map((c) => c.alpha),
        grid,
      );
      const best = rec.alpha_curve!.reduce((a, c) => (c.loss < a.loss ? c : a));
      assert.equal(rec.alpha, best.alpha);
      assert.ok(rec.alpha_curve!.every((c) => Number.isFinite(c.loss)));
    }
    assert.equal(r.result.alpha, r.records[1].alpha);
    r.cleanup();
  });

  it('offline-reg adds λ(‖U‖/‖W‖ − α)² to the training loss', async () => {
    const plain = await train('joint', { train: { epochs: 1, batch_size: 24 } });
    const reg = await train('offline-reg', { train: { epochs: 1, batch_size: 24 }, scaling: { lambda: 0.5, alpha: 1 } });
    // One batch, same initialisation: the first step's loss differs exactly by the regulariser.
    assert.ok(reg.records[0].losses.train > plain.records[0].losses.train + 1e-3);
    assert.equal(reg.records[0].alpha, 1);
    plain.cleanup();
    reg.cleanup();
  });

  it('every epoch logs ‖U‖, ‖W‖ and their ratio on the selection subset (Frobenius per batch, rms per example)', async () => {
    const r = await train('joint', { train: { epochs: 1, batch_size: 8 } });
    const e = r.records[0].extra as Record<string, number>;
    assert.ok(e.unary_norm > 0 && e.pairwise_norm > 0);
    assert.ok(Math.abs(e.norm_ratio - e.unary_norm / e.pairwise_norm) < 1e-9);
    // The rms fields, recomputed by hand: mean over the subset's examples of the rms of its real
    // unary entries, and the rms of W's entries.
    const b = r.data.selection[0];
    const U = (r.problem.potentials(b).unary as tf.Tensor3D).arraySync();
    const perExample = b.lengths.map((len, i) =>
      Math.sqrt(
        U[i]
          .slice(0, len)
          .flat()
          .reduce((a, x) => a + x * x, 0) /
          (len * K),
      ),
    );
    const uRms = perExample.reduce((a, x) => a + x, 0) / perExample.length;
    const P = Array.from(r.P.dataSync());
    const wRms = Math.sqrt(P.reduce((a, x) => a + x * x, 0) / P.length);
    assert.ok(Math.abs(e.unary_rms - uRms) < 1e-5 * uRms, `${e.unary_rms} vs ${uRms}`);
    assert.ok(Math.abs(e.pairwise_rms - wRms) < 1e-5 * wRms, `${e.pairwise_rms} vs ${wRms}`);
    assert.ok(Math.abs(e.rms_ratio - uRms / wRms) < 1e-4 * (uRms / wRms));
    r.cleanup();
  });

  it('offline scaling with batch norms warns that predictions depend on the batch; per-example norms do not', async () => {
    const batch = await train('offline', { train: { epochs: 1, batch_size: 8 }, scaling: { norm_over: 'batch' } });
    batch.cleanup();
    assert.ok(batch.logs.some((l) => /^warning: scaling\.norm_over is 'batch'/.test(l)));
    const example = await train('offline', { train: { epochs: 1, batch_size: 8 } });
    example.cleanup();
    assert.ok(!example.logs.some((l) => l.startsWith('warning')), 'the default is per example');
  });

  it('a diverging run reports a non-finite loss instead of training on', async () => {
    const r = await train('joint', { train: { epochs: 1, batch_size: 8, lr: 1e30, optimizer: 'sgd' } });
    assert.ok(!Number.isFinite(r.records[0].losses.train) || r.records[0].losses.train > 1e6);
    r.cleanup();
  });

  it('leaks no tensors over a training run', async () => {
    const before = tf.memory().numTensors;
    const r = await train('online', { train: { epochs: 2, batch_size: 8 }, scaling: { alpha_grid: [0.5, 1] } });
    r.cleanup();
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('training flag', () => {
  it('the problem is told it trains during each step only, never while validating or searching α', async () => {
    const t = tinyProblem(3);
    const cfg = config({ train: { epochs: 2, batch_size: 8 }, scaling: { alpha_grid: [0.5, 1] } });
    let training = false;
    let steps = 0;
    const seenWhileTraining: string[] = [];
    t.problem.setTraining = (on) => {
      assert.notEqual(on, training, 'calls alternate true, false');
      training = on;
      if (on) steps++;
    };
    const potentials = t.problem.potentials.bind(t.problem);
    t.problem.potentials = (b) => {
      if (!training) seenWhileTraining.push('eval');
      return potentials(b);
    };
    t.data.validate = () => {
      assert.equal(training, false, 'validation runs with training off');
      return { val: 1 };
    };
    await trainStructured(t.problem, t.data, {
      objective: 'log-likelihood',
      mode: 'online',
      train: cfg.train,
      scaling: cfg.scaling,
      rng: new Rng(0),
      epoch: () => assert.equal(training, false),
      log: () => {},
    });
    assert.equal(training, false);
    assert.equal(steps, 2 * Math.ceil(t.data.trainSize / 8));
    assert.ok(seenWhileTraining.length > 0, 'the α search and the norm log ran with training off');
    t.cleanup();
  });
});

describe('train.ssvm_maximiser', () => {
  /** ssvm joint training of the tiny problem whose training-step potentials get a large offset on label 0 (a stand-in for dropout noise). */
  async function ssvmRun(maximiser: 'noisy' | 'dropout-free' | undefined, withDecoder = true) {
    const t = tinyProblem(4);
    const cfg = config({ train: { epochs: 1, batch_size: 8, ...(maximiser ? { ssvm_maximiser: maximiser } : {}) } });
    let training = false;
    t.problem.setTraining = (on) => {
      training = on;
    };
    const potentials = t.problem.potentials.bind(t.problem);
    const noise = tf.tensor1d([50, 0, 0]);
    t.problem.potentials = (b) => {
      const p = potentials(b);
      return training ? { ...p, unary: tf.add(p.unary, noise) } : p;
    };
    const decoder = t.problem.maximiser!.bind(t.problem);
    const decodedWhileTraining: boolean[] = [];
    if (withDecoder) {
      t.problem.maximiser = (p, b) => {
        decodedWhileTraining.push(training);
        return decoder(p, b);
      };
    } else delete t.problem.maximiser;
    const given: (number[][] | undefined)[] = [];
    const expected: number[][][] = [];
    const loss = t.problem.loss.bind(t.problem);
    t.problem.loss = (objective, p, b, star) => {
      given.push(star);
      if (training) expected.push(tf.tidy(() => decoder(potentials(b), b)));
      return loss(objective, p, b, star);
    };
    try {
      await trainStructured(t.problem, t.data, {
        objective: 'ssvm',
        mode: 'joint',
        train: cfg.train,
        scaling: cfg.scaling,
        rng: new Rng(0),
        epoch: () => {},
        log: () => {},
      });
    } finally {
      noise.dispose();
      t.cleanup();
    }
    return { given, expected, decodedWhileTraining, steps: Math.ceil(t.data.trainSize / 8) };
  }

  it('noisy (the default) lets the loss decode Y* on the training step’s own potentials', async () => {
    for (const r of [await ssvmRun(undefined), await ssvmRun('noisy')]) {
      assert.equal(r.decodedWhileTraining.length, 0);
      assert.ok(r.given.length > 0 && r.given.every((g) => g === undefined));
    }
  });

  it('dropout-free decodes Y* with training off and hands it to the step’s loss', async () => {
    const r = await ssvmRun('dropout-free');
    assert.equal(r.decodedWhileTraining.length, r.steps);
    assert.ok(
      r.decodedWhileTraining.every((on) => on === false),
      'Y* is decoded with dropout off',
    );
    const inSteps = r.given.filter((g) => g !== undefined);
    assert.equal(inSteps.length, r.steps);
    assert.deepEqual(inSteps, r.expected, 'the loss gets the maximiser of the dropout-free potentials');
    // The noisy potentials would have chosen label 0 everywhere; the clean ones do not.
    assert.ok(inSteps.some((ys) => ys!.some((y) => y.some((l) => l !== 0))));
  });

  it('dropout-free needs a problem that decodes the maximiser, and says so', async () => {
    await assert.rejects(ssvmRun('dropout-free', false), /train\.ssvm_maximiser: dropout-free needs a task/);
  });

  it("'noisy' is stored as an absent key, so it does not move run ids", () => {
    assert.equal(JSON.stringify(config({ train: { ssvm_maximiser: 'noisy' } }).train), JSON.stringify(config().train));
    assert.equal(config({ train: { ssvm_maximiser: 'dropout-free' } }).train.ssvm_maximiser, 'dropout-free');
  });
});

describe('train.select', () => {
  it('best-val restores the weights of the epoch with the best first validation metric; last keeps the last', async () => {
    const r = await train('joint', { train: { epochs: 4, batch_size: 8, select: 'best-val' } }, [1, 5, 3, 4]);
    const weights = [Array.from(r.Wu.dataSync()), Array.from(r.P.dataSync())];
    assert.equal(r.result.selectedEpoch, 2);
    assert.deepEqual(weights, r.snapshots[1], 'the weights are those of epoch 2');
    assert.notDeepEqual(weights, r.snapshots[3]);
    assert.ok(
      r.logs.some((l) => /best-val: predicting with the weights of epoch 2 of 4 \(val_primary 5\)/.test(l)),
      r.logs.join('\n'),
    );
    r.cleanup();
    const last = await train('joint', { train: { epochs: 4, batch_size: 8 } }, [1, 5, 3, 4]);
    assert.equal(last.result.selectedEpoch, undefined);
    assert.deepEqual([Array.from(last.Wu.dataSync()), Array.from(last.P.dataSync())], last.snapshots[3]);
    last.cleanup();
  });

  it('a tie keeps the earlier epoch, and online scaling predicts with that epoch’s α', async () => {
    const r = await train('online', { train: { epochs: 3, batch_size: 8, select: 'best-val' }, scaling: { alpha_grid: [0.25, 1, 4] } }, [2, 2, 1]);
    assert.equal(r.result.selectedEpoch, 1);
    assert.equal(r.result.alpha, r.records[0].alpha);
    r.cleanup();
  });

  it("'last' is stored as an absent key, so it does not move run ids", () => {
    assert.equal(config({ train: { select: 'last' } }).train.select, undefined);
    assert.equal(config({ train: { select: 'best-val' } }).train.select, 'best-val');
    assert.throws(() => config({ train: { select: 'best' } }), /select/);
  });

  it('leaks no tensors with best-val', async () => {
    const before = tf.memory().numTensors;
    const r = await train('joint', { train: { epochs: 3, batch_size: 8, select: 'best-val' } }, [1, 3, 2]);
    r.cleanup();
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('relative α grid (scaling.alpha_grid_mode)', () => {
  it('searches the current α times the grid, so α can leave any fixed grid', async () => {
    const r = await train('online', { train: { epochs: 3, batch_size: 8 }, scaling: { alpha_grid: [0.5, 1, 2], alpha_grid_mode: 'relative' } });
    let alpha = 1;
    for (const rec of r.records) {
      assert.deepEqual(
        rec.alpha_curve!.map((c) => c.alpha),
        [0.5 * alpha, alpha, 2 * alpha],
      );
      alpha = rec.alpha!;
    }
    r.cleanup();
  });

  it('refuses a relative grid without 1, naming scaling.alpha_grid', () => {
    assert.throws(() => config({ scaling: { alpha_grid: [0.5, 2], alpha_grid_mode: 'relative' } }), /alpha_grid.*has no 1/s);
    assert.equal(config({ scaling: { alpha_grid_mode: 'absolute' } }).scaling.alpha_grid_mode, undefined);
  });
});

describe('step profiling', () => {
  it(`${PROFILE_ENV}=N logs the kernels of step N and changes nothing else`, async () => {
    const plain = await train('joint', { train: { epochs: 1, batch_size: 8 } });
    plain.cleanup();
    process.env[PROFILE_ENV] = '2';
    try {
      const profiled = await train('joint', { train: { epochs: 1, batch_size: 8 } });
      profiled.cleanup();
      const lines = profiled.logs.filter((l) => l.startsWith('profile'));
      assert.match(lines[0], /^profile of step 2 \(joint, batch of 8\): [\d.]+ ms wall .* in \d+ kernel calls/);
      assert.ok(lines.length > 2 && lines.slice(1).every((l) => /ms +\d+ calls +[\d.]+ %$/.test(l)), lines.join('\n'));
      assert.deepEqual(profiled.snapshots, plain.snapshots, 'the profiled run trains exactly as the plain one');
      assert.equal(plain.logs.filter((l) => l.startsWith('profile')).length, 0);
    } finally {
      delete process.env[PROFILE_ENV];
    }
  });
});
