/**
 * `sps/task/train`: the code that trains a task's model (docs/tasks.md). It loads TensorFlow: a task
 * imports it inside `run()` (`await import('sps/task/train')`), never in the module that defines it.
 */
export { disposePotentials, selectionBatches, totalEpochs, trainCell, type TrainResult } from './train/trainer.js';
export { chainProblem, decodeAll, decodeChain, type ChainBatch, type ChainProblemOptions } from './train/chain-problem.js';
/**
 * The chunking task's token unary: char-BiLSTM + word embedding (+ POS embedding when `posDim` > 0)
 * → FC, token by token, [B, T, tags] scores (docs/model.md §5).
 */
export { CHUNKER_DEFAULTS, createChunker, type Chunker, type ChunkerBatch, type ChunkerOptions } from './models/chunker.js';
