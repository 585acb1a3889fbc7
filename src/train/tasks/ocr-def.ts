/**
 * The OCR task's definition: its config schemas and data sets, without TensorFlow (the config loader
 * reads it); the code that trains is in ocr.ts, loaded when a cell runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { OBJECTIVES } from '../../core/constants.js';
import { DEFAULT_MEAN_FIELD_ITERATIONS } from '../../crf/defaults.js';
import { dataSourceSchema, samplesDir } from '../../data/samples.js';
import { LENET_PRESETS } from '../../models/lenet-presets.js';
import { defineTask } from '../../core/task.js';
import { dropoutSchema } from '../../core/schema.js';

const folds = z.array(z.int().min(0).max(9)).min(1);

export const ocrDataSchema = z
  .strictObject({
    /** `full` (default): the prepared data set; `sample`: the embedded sample (samples/README.md). */
    source: dataSourceSchema,
    /** Default: the large split of BCFW ("ocr2"): train on folds 1–9, test on fold 0. */
    train_folds: folds.default([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    test_folds: folds.default([0]),
    /** Training words held out for validation (α selection, the per-epoch log); never trained on. */
    validation_words: z.int().min(1).default(500),
    /** Use only this many training words (after the validation hold-out); null: all. For smoke runs. */
    train_words: z.int().min(1).nullable().default(null),
    /** Evaluate on only this many test words; null: all. For smoke runs. */
    test_words: z.int().min(1).nullable().default(null),
    /** Seed of the split (fixed across run seeds, so seeds vary only initialisation and order). */
    split_seed: z.int().min(0).default(0),
  })
  .refine((d) => !d.train_folds.some((f) => d.test_folds.includes(f)), { message: 'train_folds and test_folds must not overlap', path: ['test_folds'] })
  .superRefine((d, ctx) => {
    // Counts above what the folds hold would be cut silently (train_words, test_words) or fail only
    // once a cell runs (validation_words): refuse them when the config is read, --dry-run included.
    const perFold = d.source === 'sample' ? sampleFoldWords() : OCR_FOLD_WORDS;
    const source = d.source === 'sample' ? 'the embedded sample' : 'the OCR data set';
    const count = (folds: number[]) => folds.reduce((n, f) => n + perFold[f], 0);
    const pool = count(d.train_folds);
    const test = count(d.test_folds);
    const add = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message, input: d });
    if (d.validation_words >= pool)
      add(
        'validation_words',
        `${d.validation_words} is not below the ${pool} words of train_folds [${d.train_folds.join(', ')}] in ${source}; hold out fewer words`,
      );
    else if (d.train_words !== null && d.train_words > pool - d.validation_words)
      add(
        'train_words',
        `${d.train_words} is more than the ${pool - d.validation_words} training words left in ${source} (${pool} in train_folds, ${d.validation_words} held out for validation); give at most that, or null for all`,
      );
    if (d.test_words !== null && d.test_words > test)
      add(
        'test_words',
        `${d.test_words} is more than the ${test} words of test_folds [${d.test_folds.join(', ')}] in ${source}; give at most that, or null for all`,
      );
  });

/**
 * Words in each of the 10 folds of the OCR data set sps prepares (letter.data, pinned by its sha256
 * in the registry), counted from that file.
 */
export const OCR_FOLD_WORDS: readonly number[] = [626, 704, 684, 698, 693, 651, 739, 717, 690, 675];

/** Words in each fold of the embedded sample, as scripts/make-samples.ts counted them (samples/counts.json). */
function sampleFoldWords(): readonly number[] {
  return (JSON.parse(readFileSync(join(samplesDir(), 'counts.json'), 'utf8')) as { ocr: { words_per_fold: number[] } }).ocr.words_per_fold;
}

export const ocrModelSchema = z.strictObject({
  /** Unary CNN sizes: a preset, optionally overridden by conv/fc. */
  preset: z.enum(Object.keys(LENET_PRESETS) as [keyof typeof LENET_PRESETS]).default('lenet20-50-500'),
  conv: z.array(z.int().min(1)).length(2).nullable().default(null),
  fc: z.array(z.int().min(1)).nullable().default(null),
  init: z.enum(['he', 'torch']).default('he'),
  /** Multiplies the unary network's initial output layer: the unary side of the relative scale. */
  unary_scale: z.number().positive().default(1),
  /** Standard deviation of the pairwise matrix's normal initialisation (0: zeros). */
  pairwise_std: z.number().min(0).default(0.01),
  /**
   * Dropout rate on the inputs of the CNN's FC layers, in training steps only (models/lenet.ts). 0 is
   * stored as an absent key, so the cells from before this key keep their run ids.
   */
  dropout: dropoutSchema,
  /** Decoding: MAP (Viterbi) or per-position max-marginals. */
  decode: z.enum(['map', 'max-marginal']).default('map'),
  mean_field_iterations: z.int().min(1).default(DEFAULT_MEAN_FIELD_ITERATIONS),
  /** Words per batch at evaluation. */
  eval_batch: z.int().min(1).default(256),
});

export type OcrData = z.output<typeof ocrDataSchema>;
export type OcrModel = z.output<typeof ocrModelSchema>;

export const ocrTask = defineTask({
  name: 'ocr',
  summary: 'Taskar OCR letters: LeNet unaries + 26×26 pairwise, linear-chain CRF',
  dataSchema: ocrDataSchema,
  modelSchema: ocrModelSchema,
  objectives: OBJECTIVES,
  datasets: () => ['ocr'],
  run: async (ctx) => (await import('./ocr.js')).run(ctx),
});
