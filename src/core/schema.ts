import { z } from 'zod';

/**
 * The `train` and `scaling` sections of a cell: what every mode and task reads, whatever the task
 * (README "Config reference" documents every key). config/experiment.ts builds the experiment file's
 * schema on them. Sections are strict: an unknown key is an error, never silently ignored.
 */

const positive = z.number().positive();

/**
 * The most epochs of one phase: far beyond any run of the paper (tens), so a larger value is a typo
 * (1e12 would otherwise plan a run that never ends).
 */
export const MAX_EPOCHS = 100_000;
const unique = <T>(xs: T[]) => new Set(xs).size === xs.length;

/**
 * A task's `model.dropout`: a rate in [0, 1), applied in training steps only. 0 is stored as an absent
 * key (`ABSENT_MEANS`), so the cells from before a task had the key keep their run ids.
 */
export const dropoutSchema = z
  .number()
  .min(0)
  .lt(1)
  .optional()
  .transform((v) => (v === 0 ? undefined : v));

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

export const scalingSchema = z
  .strictObject({
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
  })
  .superRefine((s, ctx) => {
    if (s.alpha_grid_mode === 'relative' && !s.alpha_grid.includes(1)) {
      ctx.addIssue({
        code: 'custom',
        path: ['alpha_grid'],
        message: `alpha_grid_mode is 'relative' but alpha_grid [${s.alpha_grid.join(', ')}] has no 1: add 1 so that online scaling may keep its current α`,
        input: s.alpha_grid,
      });
    }
  });

export type TrainConfig = z.output<typeof trainSchema>;
export type ScalingConfig = z.output<typeof scalingSchema>;

/** No value twice (a refinement of list settings; the experiment schema's lists use it too). */
export { unique };
