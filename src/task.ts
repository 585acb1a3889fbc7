/**
 * `sps/task`: what a task module needs to define a task (docs/tasks.md). It loads no TensorFlow, so
 * a task's definition stays light: `sps run --dry-run`, `sps datasets` and config errors never load
 * tfjs. The code that trains (`trainCell`, `chainProblem`, decoding) is `sps/task/train`: import it
 * inside `run()`, where `ctx.tf` is the tfjs module sps runs on.
 */
export { defineTask } from './core/task.js';
export type { CellConfig, CellContext, ConfigProblem, EpochInput, ExperimentSettings, RunContext, TaskDefinition, TaskSpec } from './core/task.js';
export type { EpochRecord, FinalRecord } from './core/records.js';
export type { Potentials, PotentialTransform, StructuredProblem, TrainData } from './core/problem.js';
export { MODES, OBJECTIVES, type Mode, type Objective } from './core/constants.js';
export { modeSpec, type ModeSpec } from './core/modes.js';
export type { ScalingConfig, TrainConfig } from './core/schema.js';
export { DEFAULT_MEAN_FIELD_ITERATIONS } from './crf/defaults.js';
export { dataSourceSchema } from './data/samples.js';
export { readDataText } from './data/read.js';
/** CoNLL-2000 (`word POS chunk` per line): the reader of the chunking task, with a per-token check of a task's own. */
export { CONLL_FILES, loadConll, parseConll, type ConllPart, type ConllTokenCheck, type Sentence as ConllSentence } from './data/conll2000.js';
/** The prepared GloVe 6B 100-d subset (data set `word-embeddings`) and its lookup key. */
export { GLOVE_FILE, gloveKey, loadGlove, loadSenna, type Embeddings } from './data/embeddings.js';
/** The sentence tasks' validation hold-out and vocabularies (UNK last), the word vocabulary with its initial vectors. */
export { holdOut, indexWithUnk, lookupOrUnk, UNK, wordVocabulary, type WordVocabulary } from './data/vocabulary.js';
/** The error sps prints as one line, without a stack: for bad input, naming the file, key or line and what to do. */
export { SpsError } from './util/errors.js';
export type { DatasetSpec, FileSpec } from './data/registry.js';
export { Rng, STREAMS } from './util/rng.js';
/** The zod sps validates configs with: a task's `dataSchema` and `modelSchema` must be made with this one. */
export { z } from 'zod';
/** Tensor types for a task's own signatures (types only: the values come from `ctx.tf`). */
export type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs';
