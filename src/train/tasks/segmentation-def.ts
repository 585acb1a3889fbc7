/**
 * The segmentation task's definition: its config schemas, data set and the settings it refuses,
 * without TensorFlow (the config loader reads it); the code that trains is in segmentation.ts,
 * loaded when a cell runs.
 */
import { z } from 'zod';
import { HORSE_COUNT } from '../../data/weizmann.js';
import { dataSourceSchema } from '../../data/samples.js';
import { defineTask } from '../../core/task.js';
import { modeSpec } from '../../core/modes.js';

const range = z.tuple([z.int().min(1).max(HORSE_COUNT), z.int().min(1).max(HORSE_COUNT)]).refine(([a, b]) => a <= b, 'a range [first, last] with first ≤ last');

export const segmentationDataSchema = z
  .strictObject({
    /** `full` (default): the prepared data set; `sample`: the embedded sample (samples/README.md). */
    source: dataSourceSchema,
    /** Images and masks are resized to size×size (divisible by 4 for the default U-nets). */
    size: z.int().min(4).default(32),
    /** Horses by file number (horseNNN), inclusive: fixed by name, not by seed. */
    train_range: range.default([1, 200]),
    validation_range: range.default([201, 228]),
    test_range: range.default([229, 328]),
    /** Use only the first n training / test images (smoke runs); null: all. */
    train_images: z.int().min(1).nullable().default(null),
    test_images: z.int().min(1).nullable().default(null),
  })
  .refine(
    (d) => {
      const [r1, r2, r3] = [d.train_range, d.validation_range, d.test_range];
      const overlap = (a: number[], b: number[]) => a[0] <= b[1] && b[0] <= a[1];
      return !overlap(r1, r2) && !overlap(r1, r3) && !overlap(r2, r3);
    },
    { message: 'train_range, validation_range and test_range must not overlap', path: ['test_range'] },
  );

export const segmentationModelSchema = z.strictObject({
  /** Channels per level of the unary U-net (depth = length). */
  unary_channels: z.array(z.int().min(1)).min(1).default([16, 32, 64]),
  /** Channels per level of the pairwise U-net. */
  pairwise_channels: z.array(z.int().min(1)).min(1).default([16, 32, 64]),
  /** D: the pixel embedding's size. */
  embedding_dim: z.int().min(1).default(8),
  /** λ of W + λI. */
  lambda: z.number().positive().default(1),
  /** A is rescaled so that σ_max(A)² ≤ margin·λ: W + λI positive definite by construction. */
  pd_margin: z.number().gt(0).lt(1).default(0.5),
  cg_tolerance: z.number().positive().default(1e-4),
  cg_max_iterations: z.int().min(1).default(200),
  /** Multiplies the unary U-net's initial output layer (the unary side of the relative scale). */
  unary_scale: z.number().positive().default(1),
  /** Multiplies the pairwise U-net's initial output layer. */
  pairwise_scale: z.number().positive().default(1),
  /** Images per batch at evaluation. */
  eval_batch: z.int().min(1).default(32),
});

export type SegData = z.output<typeof segmentationDataSchema>;
export type SegModel = z.output<typeof segmentationModelSchema>;

export const segmentationTask = defineTask({
  name: 'segmentation',
  summary: 'Weizmann horses: U-net unaries and pixel embeddings, Gaussian CRF solved by conjugate gradient',
  dataSchema: segmentationDataSchema,
  modelSchema: segmentationModelSchema,
  objectives: ['cross-entropy'],
  datasets: () => ['weizmann-horse'],
  checkConfig: ({ modes, scaling, model }) => {
    // A mode that fixes ‖Ŵ‖ (offline scaling) bounds σ_max(Â)² only under the Frobenius norm.
    if (!modes.some((mode) => modeSpec(mode).fixesPairwiseNorm)) return [];
    // Offline scaling sets ‖Ŵ‖ = 1; W + λI must stay positive definite (λ > σ_max(Â)²).
    if (scaling.norm !== 'frobenius') {
      return [
        {
          path: ['scaling', 'norm'],
          message:
            `offline scaling of the Gaussian CRF needs the frobenius norm: with ‖Ŵ‖_F = 1, σ_max(Â)² ≤ 1/√2 and W + λI stays positive definite for λ > 1/√2; ` +
            `with '${scaling.norm}', σ_max(Â)² can reach the number of pixels. Set scaling.norm: frobenius (scaling.norm_over: example keeps images independent)`,
        },
      ];
    }
    const lambda = model.lambda;
    if (lambda <= Math.SQRT1_2) {
      return [
        {
          path: ['model', 'lambda'],
          message: `offline scaling sets ‖Ŵ‖_F = 1, which allows σ_max(Â)² up to 1/√2 ≈ 0.707: model.lambda (${lambda}) must be larger for W + λI to stay positive definite`,
        },
      ];
    }
    return [];
  },
  run: async (ctx) => (await import('./segmentation.js')).run(ctx),
});
