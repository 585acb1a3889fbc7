/**
 * `sps/task/train`: the code that trains a task's model (docs/tasks.md). It loads TensorFlow: a task
 * imports it inside `run()` (`await import('sps/task/train')`), never in the module that defines it.
 */
export { disposePotentials, selectionBatches, totalEpochs, trainCell, type TrainResult } from './train/trainer.js';
export { chainProblem, decodeAll, decodeChain, type ChainBatch, type ChainProblemOptions } from './train/chain-problem.js';
