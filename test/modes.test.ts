import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { determiningConfig, expandGrid } from '../src/config/cells.js';
import { MODES } from '../src/core/constants.js';
import { experimentSchema } from '../src/config/experiment.js';
import { claimedKeys, MODE_NAMES, MODE_SPECS, modeSpec, type ModeSpec } from '../src/core/modes.js';
import type { EpochInput } from '../src/core/task.js';
import { trainStructured } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { tinyProblem } from './fixtures/tiny-chain.js';

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

const experiment = (overrides: Record<string, unknown> = {}) =>
  experimentSchema.parse({ name: 't', task: 'x', objectives: ['log-likelihood'], modes: ['joint'], seeds: 1, ...overrides });

/**
 * A sixth mode, defined only here: two phases (pairwise warm-up, then everything), the unary part
 * scaled by a fixed `scaling.alpha`, a loss term, an after-epoch hook and a logged α. Everything the
 * runner needs to know about it is in this one object.
 */
const hookCalls: number[] = [];
const toyMode: ModeSpec = {
  name: 'toy',
  summary: 'pairwise warm-up at train.lr, then joint training of F(αU, W)',
  color: '#17becf',
  scales: true,
  phases: (train) => [
    { name: 'toy-warmup', epochs: 1, lr: train.lr, loss: 'structured', params: 'pairwise' },
    { name: 'toy-joint', epochs: train.epochs, lr: train.lr, loss: 'structured', params: 'all' },
  ],
  keys: { train: ['epochs', 'lr'], scaling: ['alpha'] },
  transform:
    ({ tf: t, problem, scaling }) =>
    (p) =>
      problem.rescale(p, t.scalar(scaling.alpha), t.scalar(1)),
  extraLoss: ({ tf: t }) => t.scalar(1000),
  afterEpoch: async (_kit, state, selection) => {
    hookCalls.push(selection.length);
    state.alpha += 1;
    return {};
  },
  alpha: (_scaling, state) => state.alpha,
};

describe('training modes as entries of core/modes.ts', () => {
  it('an entry scales exactly when it logs an α, and every entry has a colour of its own', () => {
    const scaling = experimentSchema.parse({ name: 'x', task: 'ocr', objectives: ['log-likelihood'], modes: ['joint'], seeds: 1 }).scaling;
    for (const spec of Object.values(MODE_SPECS)) assert.equal(spec.scales, spec.alpha(scaling, { alpha: 1 }) !== undefined, spec.name);
    const colors = Object.values(MODE_SPECS).map((s) => s.color);
    assert.equal(new Set(colors).size, colors.length);
  });

  it('the config accepts exactly the registered modes, in their order', () => {
    assert.deepEqual([...MODES], Object.keys(MODE_SPECS));
    assert.deepEqual(MODE_NAMES, ['stage', 'joint', 'online', 'offline', 'offline-reg']);
    for (const mode of MODE_NAMES) assert.equal(modeSpec(mode).name, mode);
    assert.throws(() => experiment({ modes: ['toy'] }), /toy|Invalid/);
    assert.throws(() => modeSpec('toy'), /unknown mode 'toy'.*stage, joint/);
  });

  it('a toy sixth mode trains with its own phases, potentials, loss term and hook, and logs its α', async () => {
    const t = tinyProblem(3);
    const cfg = experiment({ train: { epochs: 2 }, scaling: { alpha: 3 } });
    const records: EpochInput[] = [];
    hookCalls.length = 0;
    const pairwiseBefore = t.P.arraySync();
    const unaryBefore = t.Wu.arraySync();
    try {
      const result = await trainStructured(t.problem, t.data, {
        objective: 'log-likelihood',
        mode: toyMode,
        train: cfg.train,
        scaling: cfg.scaling,
        rng: new Rng(0),
        epoch: (r) => records.push(r),
        log: () => {},
      });
      assert.deepEqual(
        records.map((r) => r.phase),
        ['toy-warmup', 'toy-joint', 'toy-joint'],
      );
      // The extra term is in the reported training loss; the hook ran after each of the 3 epochs.
      assert.ok(records.every((r) => r.losses.train > 1000));
      assert.deepEqual(hookCalls, [1, 1, 1]);
      assert.deepEqual(
        records.map((r) => r.alpha),
        [2, 3, 4],
      );
      assert.equal(result.alpha, 4);
      assert.notDeepEqual(t.P.arraySync(), pairwiseBefore);
      assert.notDeepEqual(t.Wu.arraySync(), unaryBefore);
      // It predicts with its own potentials: U scaled by scaling.alpha = 3.
      const b = t.data.selection[0];
      const [raw, used] = tf.tidy(() => {
        const p = t.problem.potentials(b);
        return [p.unary.arraySync(), result.transform(p, b).unary.arraySync()];
      }) as unknown as [number[][][], number[][][]];
      assert.ok(Math.abs(used[0][0][0] - 3 * raw[0][0][0]) < 1e-5);
    } finally {
      t.cleanup();
    }
  });

  it("a toy mode's run id holds the keys it claims and the keys no mode claims, and no other mode's keys", () => {
    const [cell] = expandGrid(experiment({ scaling: { alpha: 3 } }));
    const id = determiningConfig(cell.config, toyMode) as { train: Record<string, unknown>; scaling: Record<string, unknown> };
    assert.deepEqual(Object.keys(id.train).sort(), ['batch_size', 'epochs', 'grad_clip', 'lr', 'momentum', 'optimizer', 'weight_decay']);
    assert.equal(id.scaling.alpha, 3);
    assert.equal(id.scaling.alpha_grid, undefined);
    assert.equal(id.scaling.lambda, undefined);
    // A key no mode claims enters every run id, the toy mode's too.
    const unclaimed = Object.keys(cell.config.scaling).filter((k) => !claimedKeys().scaling.has(k));
    for (const k of unclaimed) assert.ok(k in id.scaling, k);
  });

  it('every registered mode runs end to end on a tiny problem and reports one record per planned epoch', async () => {
    const cfg = experiment({ train: { epochs: 1, stage: { unary_epochs: 1, pairwise_epochs: 1, joint_epochs: 1 } }, scaling: { alpha_grid: [0.5, 1] } });
    for (const mode of MODE_NAMES) {
      const t = tinyProblem(4);
      const records: EpochInput[] = [];
      try {
        const result = await trainStructured(t.problem, t.data, {
          objective: 'log-likelihood',
          mode,
          train: cfg.train,
          scaling: cfg.scaling,
          rng: new Rng(0),
          epoch: (r) => records.push(r),
          log: () => {},
        });
        assert.equal(
          records.length,
          modeSpec(mode)
            .phases(cfg.train)
            .reduce((n, p) => n + p.epochs, 0),
          mode,
        );
        const logged = modeSpec(mode).alpha(cfg.scaling, { alpha: 1 });
        assert.equal(records.at(-1)!.alpha === undefined, logged === undefined, mode);
        assert.ok(Number.isFinite(result.alpha), mode);
      } finally {
        t.cleanup();
      }
    }
  });
});
