/**
 * The chunking task's definition: its config schemas and data sets, without TensorFlow (the config
 * loader reads it); the code that trains is in chunking.ts, loaded when a cell runs.
 */
import { z } from 'zod';
import { OBJECTIVES } from '../../core/constants.js';
import { DEFAULT_MEAN_FIELD_ITERATIONS } from '../../crf/defaults.js';
import { dataSourceSchema } from '../../data/samples.js';
import { defineTask } from '../../core/task.js';
import { dropoutSchema } from '../../core/schema.js';

export const chunkingDataSchema = z
  .strictObject({
    /** `full` (default): the prepared data set; `sample`: the embedded sample (samples/README.md). */
    source: dataSourceSchema,
    /** Training sentences held out for validation (α selection, model selection); never trained on. */
    validation_sentences: z.int().min(1).default(500),
    /** Use only this many training sentences (after the hold-out); null: all. For smoke runs. */
    train_sentences: z.int().min(1).nullable().default(null),
    /** Evaluate on only this many test sentences; null: all. For smoke runs. */
    test_sentences: z.int().min(1).nullable().default(null),
    /** Seed of the hold-out draw (fixed across run seeds). */
    split_seed: z.int().min(0).default(0),
    /** Initial word vectors: GloVe 6B 100-d (prepared data set `word-embeddings`), SENNA 50-d from `senna_dir`, or random. */
    embeddings: z.enum(['glove', 'senna', 'random']).default('glove'),
    /** An unpacked SENNA v3.0 folder (hash/words.lst, embeddings/embeddings.txt); needed for `embeddings: senna`. */
    senna_dir: z.string().min(1).nullable().default(null),
    /** Training words without a pre-trained vector get their own row when seen this often; rarer ones share UNK. */
    min_word_count: z.int().min(1).default(2),
  })
  .refine((d) => d.embeddings !== 'senna' || d.senna_dir !== null, {
    message: 'embeddings: senna needs data.senna_dir (the SENNA folder)',
    path: ['senna_dir'],
  });

export const chunkingModelSchema = z.strictObject({
  char_embedding: z.int().min(1).default(25),
  /** Units per direction of the char BiLSTM. */
  char_hidden: z.int().min(1).default(25),
  /** Characters kept per word (longer words keep their first ones). */
  max_chars: z.int().min(1).default(20),
  /** Word embedding size with `embeddings: random` (otherwise the vectors' own size). */
  word_dim: z.int().min(1).default(100),
  /** Fine-tune the word embedding (true) or keep it frozen. */
  word_trainable: z.boolean().default(true),
  pos_dim: z.int().min(1).default(25),
  /** Hidden ReLU layers between the token features and the output layer ([]: one FC layer). */
  hidden: z.array(z.int().min(1)).default([]),
  /** Multiplies the unary network's initial output layer: the unary side of the relative scale. */
  unary_scale: z.number().positive().default(1),
  pairwise_std: z.number().min(0).default(0.01),
  /**
   * Dropout rate on each token's features (the input of the FC layers), in training steps only
   * (models/chunker.ts). 0 is stored as an absent key, so the cells from before this key keep their run ids.
   */
  dropout: dropoutSchema,
  /** Forbid I-X after anything but B-X or I-X (transitions only); off in the paper. */
  bio_constraints: z.boolean().default(false),
  decode: z.enum(['map', 'max-marginal']).default('map'),
  mean_field_iterations: z.int().min(1).default(DEFAULT_MEAN_FIELD_ITERATIONS),
  /** Sentences per batch at evaluation. */
  eval_batch: z.int().min(1).default(256),
});

export type ChunkingData = z.output<typeof chunkingDataSchema>;
export type ChunkingModel = z.output<typeof chunkingModelSchema>;

export const chunkingTask = defineTask({
  name: 'chunking',
  summary: 'CoNLL-2000 chunking: char-BiLSTM + word + POS embeddings → FC unaries, N_tags × N_tags pairwise, linear-chain CRF',
  dataSchema: chunkingDataSchema,
  modelSchema: chunkingModelSchema,
  objectives: OBJECTIVES,
  datasets: ({ data: d }) => ['conll2000', ...(d.embeddings === 'glove' ? ['word-embeddings'] : [])],
  run: async (ctx) => (await import('./chunking.js')).run(ctx),
});
