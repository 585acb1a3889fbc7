import { z } from 'zod';
import { BACKENDS, EXPERIMENT_NAME, MODES, OBJECTIVES } from './constants.js';

/**
 * The experiment file schema (README "Config reference" documents every key).
 * Sections are strict: an unknown key is an error, never silently ignored.
 * `data` and `model` belong to the task; their schemas come from the task registry.
 */

const positive = z.number().positive();

/**
 * The most epochs of one phase: far beyond any run of the paper (tens), so a larger value is a typo
 * (1e12 would otherwise plan a run that never ends).
 */
export const MAX_EPOCHS = 100_000;
const unique = <T>(xs: T[]) => new Set(xs).size === xs.length;

export const stageSchema = z.strictObject({
  /** (1) unary network alone, per-position cross-entropy. */
  unary_epochs: z.int().min(0).max(MAX_EPOCHS).default(5),
  /** (2) pairwise part with the unary part frozen, under the row's objective. */
  pairwise_epochs: z.int().min(0).max(MAX_EPOCHS).default(2),
  /** (3) everything jointly under the row's objective. */
  joint_epochs: z.int().min(0).max(MAX_EPOCHS).default(5),
  unary_lr: positive.default(1e-3),
  pairwise_lr: positive.default(1e-2),
  joint_lr: positive.default(5e-4),
});

export const trainSchema = z.strictObject({
  /** Epochs of the joint-style modes (joint, online, offline, offline-reg). */
  epochs: z.int().min(1).max(MAX_EPOCHS).default(10),
  batch_size: z.int().min(1).default(32),
  optimizer: z.enum(['adam', 'sgd', 'momentum']).default('adam'),
  /** Learning rate of the joint-style modes. */
  lr: positive.default(1e-3),
  momentum: z.number().min(0).max(1).default(0.9),
  weight_decay: z.number().min(0).default(0),
  /** Clip the global gradient norm at this value; null: no clipping. */
  grad_clip: positive.nullable().default(null),
  /**
   * Which weights the test set is evaluated with: `last` (the last epoch's; the default) or `best-val`
   * (those of the epoch with the best validation value of the task's primary metric). `last` is
   * stored as an absent key, so the cells that existed before this key keep their run ids.
   */
  select: z
    .enum(['last', 'best-val'])
    .optional()
    .transform((v) => (v === 'last' ? undefined : v)),
  /**
   * ssvm: the potentials the loss-augmented maximiser Y* of eq. 6 is decoded on in a training step.
   * `noisy` (the default, the literal reading): the step's own potentials, dropout masks included.
   * `dropout-free`: the same parameters with dropout off; the loss and its gradient still use the
   * step's dropout potentials. Only models with dropout differ. `noisy` is stored as an absent key,
   * so the cells that existed before this key keep their run ids.
   */
  ssvm_maximiser: z
    .enum(['noisy', 'dropout-free'])
    .optional()
    .transform((v) => (v === 'noisy' ? undefined : v)),
  stage: stageSchema.prefault({}),
});

export const scalingSchema = z.strictObject({
  /** Online scaling (Algorithm 1): the α grid searched after every epoch. */
  alpha_grid: z.array(positive).min(1).refine(unique, 'alpha_grid values must be distinct').default([0.1, 0.2, 0.5, 1, 2, 5, 10]),
  /**
   * Online scaling: `absolute` (the default) searches the grid's values of α; `relative` searches the
   * current α times each grid value (a grid with 1 in it, so α may stay), so α can drift past any
   * fixed grid. `absolute` is stored as an absent key, so earlier cells keep their run ids.
   */
  alpha_grid_mode: z
    .enum(['absolute', 'relative'])
    .optional()
    .transform((v) => (v === 'absolute' ? undefined : v)),
  /** Online scaling: where L_α is measured. */
  selection: z
    .strictObject({
      subset: z.enum(['validation', 'train']).default('validation'),
      /** Number of examples drawn (seeded) from that subset; null: all of it. */
      size: z.int().min(1).nullable().default(500),
    })
    .prefault({}),
  /**
   * Offline scaling: the norm in Û = α·U/‖U‖, Ŵ = W/‖W‖ and in the regulariser. rms (per entry) by
   * default: α is then the ratio of typical unary to pairwise entries, whatever the sequence length.
   */
  norm: z.enum(['frobenius', 'rms', 'max']).default('rms'),
  /**
   * Offline scaling: norms per example (default) or per mini-batch. With `batch`, a prediction
   * depends on the other examples of its batch and on the evaluation batch size.
   */
  norm_over: z.enum(['example', 'batch']).default('example'),
  /** Offline and offline-reg: the target relative scale α. */
  alpha: positive.default(1),
  /** offline-reg: weight λ of λ(‖U‖/‖W‖ − α)². */
  lambda: z.number().min(0).default(0.01),
}).superRefine((s, ctx) => {
  if (s.alpha_grid_mode === 'relative' && !s.alpha_grid.includes(1)) {
    ctx.addIssue({ code: 'custom', path: ['alpha_grid'], message: `alpha_grid_mode is 'relative' but alpha_grid [${s.alpha_grid.join(', ')}] has no 1: add 1 so that online scaling may keep its current α`, input: s.alpha_grid });
  }
});

/**
 * At most this many seeds per cell, as a count or a list: a larger number is far more likely a typo
 * (seeds: 100000 for seeds: [100000]) than a plan, and would queue that many runs of every cell.
 */
export const MAX_SEEDS = 1000;
/** The largest seed value: the seed is a 31-bit initialiser seed for tfjs as well as the rng's. */
export const MAX_SEED = 2 ** 31 - 1;

const SEEDS_FORMS = `a count from 1 to ${MAX_SEEDS} or a list of seeds such as [0, 1, 2]`;

/** What is wrong with a `seeds` value, with its path below `seeds`; undefined when it is fine. */
function seedsProblem(v: unknown): { path: number[]; message: string } | undefined {
  const at = (message: string, path: number[] = []) => ({ path, message });
  if (v === undefined) return at(`missing: give ${SEEDS_FORMS}`);
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1) return at(`${v} is not a count of seeds: give a whole number from 1 to ${MAX_SEEDS} (seeds 0..n-1) or a list such as [0, 1, 2]`);
    if (v > MAX_SEEDS) return at(`${v} is more than ${MAX_SEEDS} seeds (the limit per cell); to run one particular seed, list it: [${v}]`);
    return undefined;
  }
  if (typeof v === 'string') return at(`got the string ${JSON.stringify(v)}: write the number without quotes (seeds: 3) or a list such as [0, 1, 2]`);
  if (!Array.isArray(v)) return at(`expected ${SEEDS_FORMS}, got ${JSON.stringify(v)}`);
  if (v.length === 0) return at(`the list is empty: give at least one seed, e.g. [0]`);
  if (v.length > MAX_SEEDS) return at(`${v.length} seeds listed; at most ${MAX_SEEDS} per cell`);
  const bad = v.findIndex((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > MAX_SEED);
  if (bad >= 0) return at(`${JSON.stringify(v[bad])} is not a seed: seeds are whole numbers from 0 to ${MAX_SEED}`, [bad]);
  const twice = v.find((x, i) => v.indexOf(x) !== i);
  if (twice !== undefined) return at(`${twice} is listed twice: seeds must not repeat`);
  return undefined;
}

/** A list of seeds, or a count n meaning seeds 0..n-1; always a list once parsed. */
const seedsSchema = z
  .unknown()
  .superRefine((v, ctx) => {
    const problem = seedsProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input: v });
  })
  .transform((v) => (typeof v === 'number' ? Array.from({ length: v }, (_, i) => i) : (v as number[])));

export const experimentSchema = z.strictObject({
  name: z
    .string()
    .regex(EXPERIMENT_NAME, 'name must be letters, digits, ".", "_" or "-" (it names the results folder)'),
  task: z.string().min(1),
  objectives: z.array(z.enum(OBJECTIVES)).min(1).refine(unique, 'objectives must not repeat'),
  modes: z.array(z.enum(MODES)).min(1).refine(unique, 'modes must not repeat'),
  seeds: seedsSchema,
  data: z.record(z.string(), z.unknown()).default({}),
  model: z.record(z.string(), z.unknown()).default({}),
  train: trainSchema.prefault({}),
  scaling: scalingSchema.prefault({}),
  backend: z.enum(BACKENDS).default('auto'),
});

export type Experiment = z.output<typeof experimentSchema>;
export type TrainConfig = z.output<typeof trainSchema>;
export type ScalingConfig = z.output<typeof scalingSchema>;
