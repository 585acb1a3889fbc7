/**
 * The training modes (the paper's table columns, docs/architecture.md "Training modes"): one entry
 * per mode holds everything that differs between modes, so the trainer, the run id and the tasks ask
 * this module instead of comparing mode names. Adding a mode is one entry here (plus its test and
 * docs): the config schema, the run id and the trainer pick it up from `MODE_SPECS`.
 *
 *   stage        (1) unary network alone, per-position cross-entropy; (2) pairwise part with the unary
 *                frozen, under the row's objective; (3) everything jointly under the row's objective.
 *   joint        all parameters from scratch under the row's objective.
 *   online       joint training of F_α = F(αU, W); after every epoch α ← argmin_α L_α(D_sel) over the
 *                grid (Algorithm 1 of the paper), starting from α = 1; a relative grid searches
 *                α·g for g in the grid instead.
 *   offline      joint training with Û = α·U/‖U‖, Ŵ = W/‖W‖ (α fixed).
 *   offline-reg  joint training with R = λ(‖U‖/‖W‖ − α)² added to the loss.
 *
 * The potentials a mode trains with are also the ones it predicts with (online: the last α;
 * offline: the normalised potentials).
 *
 * This module loads no TensorFlow (the config code reads it to compute run ids): the hooks get tfjs
 * and the scaling operators from the trainer through `ModeKit`.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Objective } from '../crf/types.js';
import type { ScalingConfig, TrainConfig } from './schema.js';
import type { GridSearchResult } from '../crf/scaling.js';
import type { Potentials, PotentialTransform, StructuredProblem } from './problem.js';

/** One phase of a mode's schedule. */
export interface Phase {
  name: string;
  epochs: number;
  lr: number;
  /** 'unary': stage (1) loss; 'structured': the row's objective. */
  loss: 'unary' | 'structured';
  params: 'unary' | 'pairwise' | 'all';
}

/** What a mode's hooks may use: tfjs, the model, the cell's settings and the scaling operators of crf/scaling.ts. */
export interface ModeKit<B> {
  tf: typeof tfType;
  problem: StructuredProblem<B>;
  objective: Objective;
  scaling: ScalingConfig;
  regulariser(normU: tfType.Tensor, normW: tfType.Tensor, alpha: number, lambda: number): tfType.Scalar;
  gridSearch(lossOfAlpha: (alpha: number) => number, grid: readonly number[]): Promise<GridSearchResult>;
}

/** A mode's state during one run; the trainer creates it with α = 1 and the hooks may change it. */
export interface ModeState {
  alpha: number;
}

export interface ModeSpec {
  name: string;
  summary: string;
  /** The mode's colour in every figure of the report (a CSS colour). */
  color: string;
  /** The mode rescales U or W (the paper's scaling modes; exactly the modes whose `alpha` is defined). */
  scales: boolean;
  /** The schedule. */
  phases(train: TrainConfig): Phase[];
  /**
   * The `train` and `scaling` keys this mode reads beyond the ones every mode reads. A key that some
   * mode claims here enters the run id of the modes that claim it only; a key no mode claims enters
   * every run id (config/cells.ts), so a new schema key is safe by default.
   */
  keys: { train: readonly (keyof TrainConfig)[]; scaling: readonly (keyof ScalingConfig)[] };
  /** The potentials the mode trains and predicts with; reads `state` at call time (online's α). */
  transform<B>(kit: Pick<ModeKit<B>, 'tf' | 'problem' | 'scaling'>, state: Readonly<ModeState>): PotentialTransform<B>;
  /** A term added to the structured loss, from the raw potentials (offline-reg's regulariser). */
  extraLoss?<B>(kit: ModeKit<B>, raw: Potentials, batch: B): tfType.Scalar;
  /** Runs after every epoch of a structured phase, before validation (online's α search). */
  afterEpoch?<B>(kit: ModeKit<B>, state: ModeState, selection: B[]): Promise<{ alpha_curve?: { alpha: number; loss: number }[] }>;
  /** The α the mode logs each epoch and returns in final.json; undefined: it scales nothing (final α 1). */
  alpha(scaling: ScalingConfig, state: ModeState): number | undefined;
  /** The mode fixes ‖Ŵ‖ = 1 (tasks whose W must stay positive definite check this; segmentation). */
  fixesPairwiseNorm?: boolean;
}

/** The joint-style schedule: one phase of `train.epochs` at `train.lr` on every parameter. */
const jointPhase =
  (name: string) =>
  (train: TrainConfig): Phase[] => [{ name, epochs: train.epochs, lr: train.lr, loss: 'structured', params: 'all' }];
const JOINT_KEYS = ['epochs', 'lr'] as const;
const identity =
  <B>(): PotentialTransform<B> =>
  (p) =>
    p;

/** Offline and offline-reg read the same norm settings. */
const NORM_KEYS = ['alpha', 'norm', 'norm_over'] as const;

const stage: ModeSpec = {
  name: 'stage',
  summary: 'unary network alone, then the pairwise part, then everything jointly',
  color: '#1f77b4',
  scales: false,
  phases: (train) => {
    const s = train.stage;
    return (
      [
        { name: 'stage1-unary', epochs: s.unary_epochs, lr: s.unary_lr, loss: 'unary', params: 'unary' },
        { name: 'stage2-pairwise', epochs: s.pairwise_epochs, lr: s.pairwise_lr, loss: 'structured', params: 'pairwise' },
        { name: 'stage3-joint', epochs: s.joint_epochs, lr: s.joint_lr, loss: 'structured', params: 'all' },
      ] satisfies Phase[]
    ).filter((p) => p.epochs > 0);
  },
  keys: { train: ['stage'], scaling: [] },
  transform: identity,
  alpha: () => undefined,
};

const joint: ModeSpec = {
  name: 'joint',
  summary: 'all parameters from scratch under the row objective',
  color: '#d62728',
  scales: false,
  phases: jointPhase('joint'),
  keys: { train: JOINT_KEYS, scaling: [] },
  transform: identity,
  alpha: () => undefined,
};

const online: ModeSpec = {
  name: 'online',
  summary: 'joint training of F(αU, W), α re-chosen on the selection subset after every epoch',
  color: '#2ca02c',
  scales: true,
  phases: jointPhase('online'),
  keys: { train: JOINT_KEYS, scaling: ['alpha_grid', 'alpha_grid_mode'] },
  transform:
    ({ tf, problem }, state) =>
    (p) =>
      problem.rescale(p, tf.scalar(state.alpha), tf.scalar(1)),
  afterEpoch: async ({ tf, problem, objective, scaling, gridSearch }, state, selection) => {
    // Algorithm 1: α_best = argmin_α (1/|D|) Σ L(Y, αU, W) on the selection subset.
    const raws: Potentials[] = selection.map((b) => {
      const [unary, pairwise] = tf.tidy(() => {
        const p = problem.potentials(b);
        return [p.unary, p.pairwise];
      });
      return { unary, pairwise };
    });
    // A relative grid multiplies the current α (the grid holds 1, so α may stay where it is).
    const grid = scaling.alpha_grid_mode === 'relative' ? scaling.alpha_grid.map((g) => state.alpha * g) : scaling.alpha_grid;
    try {
      const search = await gridSearch(
        (a) =>
          tf.tidy(() => {
            const losses = selection.map((b, i) => problem.loss(objective, problem.rescale(raws[i], tf.scalar(a), tf.scalar(1)), b));
            return tf.mean(tf.concat(losses)).dataSync()[0];
          }),
        grid,
      );
      state.alpha = search.best;
      return { alpha_curve: search.curve };
    } finally {
      // A raw W can be the model's own variable: dispose only what the tidy above created.
      for (const p of raws) for (const t of [p.unary, p.pairwise]) if (!(t instanceof tf.Variable)) t.dispose();
    }
  },
  alpha: (_scaling, state) => state.alpha,
};

const offline: ModeSpec = {
  name: 'offline',
  summary: 'joint training with Û = α·U/‖U‖, Ŵ = W/‖W‖',
  color: '#9467bd',
  scales: true,
  phases: jointPhase('offline'),
  keys: { train: JOINT_KEYS, scaling: NORM_KEYS },
  transform:
    ({ tf, problem, scaling }) =>
    (p, batch) => {
      // Û = α·U/‖U‖, Ŵ = W/‖W‖; ε keeps an all-zero initialisation finite.
      const n = problem.norms(p, batch, scaling.norm, scaling.norm_over);
      return problem.rescale(p, tf.div(scaling.alpha, tf.add(n.unary, 1e-6)), tf.div(1, tf.add(n.pairwise, 1e-6)));
    },
  alpha: (scaling) => scaling.alpha,
  fixesPairwiseNorm: true,
};

const offlineReg: ModeSpec = {
  name: 'offline-reg',
  summary: 'joint training with λ(‖U‖/‖W‖ − α)² added to the loss',
  color: '#ff7f0e',
  scales: true,
  phases: jointPhase('offline-reg'),
  keys: { train: JOINT_KEYS, scaling: [...NORM_KEYS, 'lambda'] },
  transform: identity,
  extraLoss: ({ problem, scaling, regulariser }, raw, batch) => {
    const n = problem.norms(raw, batch, scaling.norm, scaling.norm_over);
    return regulariser(n.unary, n.pairwise, scaling.alpha, scaling.lambda);
  },
  alpha: (scaling) => scaling.alpha,
};

/** Every mode, in the paper's column order (the order of `MODES`, tables and figures). */
export const MODE_SPECS = { stage, joint, online, offline, 'offline-reg': offlineReg } as const satisfies Record<string, ModeSpec>;

export type ModeName = keyof typeof MODE_SPECS;
export const MODE_NAMES = Object.keys(MODE_SPECS) as [ModeName, ...ModeName[]];

/** The entry of a mode name, or undefined for a name no entry has (a run folder from another version of sps). */
export function findModeSpec(name: string): ModeSpec | undefined {
  return Object.hasOwn(MODE_SPECS, name) ? (MODE_SPECS as Record<string, ModeSpec>)[name] : undefined;
}

/** The entry of a mode name the config schema has accepted. */
export function modeSpec(name: string): ModeSpec {
  const spec = (MODE_SPECS as Record<string, ModeSpec>)[name];
  if (!spec) throw new Error(`unknown mode '${name}' (known: ${MODE_NAMES.join(', ')})`);
  return spec;
}

/** The `train` and `scaling` keys some mode claims (`ModeSpec.keys`): the rest enter every run id. */
export function claimedKeys(specs: readonly ModeSpec[] = Object.values(MODE_SPECS)): { train: Set<string>; scaling: Set<string> } {
  return { train: new Set(specs.flatMap((s) => s.keys.train)), scaling: new Set(specs.flatMap((s) => s.keys.scaling)) };
}
