/**
 * sps as a library. The CRF core (`sps/crf`) is exported here as it lands; for now the experiment
 * machinery that other tools may reuse.
 */
export { loadExperiment } from './config/load.js';
export { allTasks } from './train/tasks/index.js';
export { expandGrid, runId, canonicalJson } from './config/cells.js';
export type { TaskDefinition, RunContext, CellConfig } from './core/task.js';
export { listRuns, readMetrics } from './results/store.js';
export type { RunRecord, FinalRecord, EpochRecord } from './core/records.js';
export { selectBackend } from './backend/select.js';
export { Rng } from './util/rng.js';
export * as crf from './crf/index.js';
