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
export type { DatasetSpec, FileSpec } from './data/registry.js';
export { Rng, STREAMS } from './util/rng.js';
/** The zod sps validates configs with: a task's `dataSchema` and `modelSchema` must be made with this one. */
export { z } from 'zod';
/** Tensor types for a task's own signatures (types only: the values come from `ctx.tf`). */
export type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs';
