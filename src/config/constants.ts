import { OBJECTIVES, type Objective } from '../crf/types.js';

/** The axes of the paper's table, in the paper's order (rows: task, objective; columns: mode). */
export const TASKS = ['ocr', 'chunking', 'segmentation'] as const;
export const MODES = ['stage', 'joint', 'online', 'offline', 'offline-reg'] as const;
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export { OBJECTIVES, type Objective };
export type Mode = (typeof MODES)[number];
export type BackendChoice = (typeof BACKENDS)[number];
