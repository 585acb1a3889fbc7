/**
 * The part-of-speech task, beyond the paper (docs/pos-reproduction.md): the CoNLL-2000 files' second
 * labelling, the Penn Treebank POS tags. It is written as a user's task would be, against the public
 * task API only (`sps/task` here, `sps/task/train` in run.ts; docs/tasks.md), and sps lists it built
 * in so that a clone runs it with no SPS_PLUGINS. test/pos-task.test.ts holds it to those imports.
 *
 * This module is the light definition: schemas and data sets, no TensorFlow. run.ts trains.
 */
import { DEFAULT_MEAN_FIELD_ITERATIONS, dataSourceSchema, defineTask, OBJECTIVES, z } from '../../task.js';

/**
 * The label space: the 45 tags of the Penn Treebank (Marcus et al. 1993, table 2), which the
 * CoNLL-2000 files use. Fixed rather than read from the training file, so that a typo or a shifted
 * column in any file is an error at its line, and the sample and the full data share one K. LS (list
 * marker) never occurs in CoNLL-2000's training file; its unary score is only ever pushed down.
 */
export const PTB_TAGS = [
  ...['CC', 'CD', 'DT', 'EX', 'FW', 'IN', 'JJ', 'JJR', 'JJS', 'LS', 'MD', 'NN', 'NNS', 'NNP', 'NNPS', 'PDT', 'POS', 'PRP', 'PRP$'],
  ...['RB', 'RBR', 'RBS', 'RP', 'SYM', 'TO', 'UH', 'VB', 'VBD', 'VBG', 'VBN', 'VBP', 'VBZ', 'WDT', 'WP', 'WP$', 'WRB'],
  ...['#', '$', '.', ',', ':', '(', ')', '``', "''"],
] as const;

export const posDataSchema = z.strictObject({
  /** `full` (default): the prepared CoNLL-2000 files; `sample`: the embedded sample (samples/README.md). */
  source: dataSourceSchema,
  /** Training sentences held out for validation (chunking's convention: a shuffle with `split_seed`, the first ones). */
  validation_sentences: z.int().min(1).default(500),
  /** Use only this many training sentences (after the hold-out); null: all. For smoke runs. */
  train_sentences: z.int().min(1).nullable().default(null),
  /** Evaluate on only this many test sentences; null: all. For smoke runs. */
  test_sentences: z.int().min(1).nullable().default(null),
  /** Seed of the hold-out draw (fixed across run seeds). */
  split_seed: z.int().min(0).default(0),
  /** Initial word vectors: GloVe 6B 100-d (prepared data set `word-embeddings`) or random. */
  embeddings: z.enum(['glove', 'random']).default('glove'),
  /** Training words without a pre-trained vector get their own row when seen this often; rarer ones share UNK. */
  min_word_count: z.int().min(1).default(2),
});

export const posModelSchema = z.strictObject({
  char_embedding: z.int().min(1).default(25),
  /** Units per direction of the char BiLSTM. */
  char_hidden: z.int().min(1).default(25),
  /** Characters kept per word (longer words keep their first ones). */
  max_chars: z.int().min(1).default(20),
  /** Word embedding size with `embeddings: random` (otherwise the vectors' own size). */
  word_dim: z.int().min(1).default(100),
  /** Fine-tune the word embedding (true) or keep it frozen. */
  word_trainable: z.boolean().default(true),
  /** Hidden ReLU layers between the token features and the output layer ([]: one FC layer). */
  hidden: z.array(z.int().min(1)).default([]),
  /** Multiplies the unary network's initial output layer: the unary side of the relative scale. */
  unary_scale: z.number().positive().default(1),
  pairwise_std: z.number().min(0).default(0.01),
  /** Dropout rate on each token's features, in training steps only. */
  dropout: z.number().min(0).lt(1).default(0),
  decode: z.enum(['map', 'max-marginal']).default('map'),
  mean_field_iterations: z.int().min(1).default(DEFAULT_MEAN_FIELD_ITERATIONS),
  /** Sentences per batch at evaluation. */
  eval_batch: z.int().min(1).default(256),
});

export type PosData = z.output<typeof posDataSchema>;
export type PosModel = z.output<typeof posModelSchema>;

export const posTask = defineTask({
  name: 'pos',
  summary: 'CoNLL-2000 part-of-speech tagging (beyond the paper): char-BiLSTM + word embeddings → FC unaries, 45 × 45 pairwise, linear-chain CRF',
  dataSchema: posDataSchema,
  modelSchema: posModelSchema,
  objectives: OBJECTIVES,
  datasets: ({ data: d }) => ['conll2000', ...(d.embeddings === 'glove' ? ['word-embeddings'] : [])],
  run: async (ctx) => (await import('./run.js')).run(ctx),
});
