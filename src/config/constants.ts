import { OBJECTIVES, type Objective } from '../crf/types.js';
import { MODE_NAMES } from '../train/modes.js';

/** The axes of the paper's table, in the paper's order (rows: task, objective; columns: mode). */
export const TASKS = ['ocr', 'chunking', 'segmentation'] as const;
/** The training modes, defined in train/modes.ts (one entry per mode). */
export const MODES = MODE_NAMES;
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export { OBJECTIVES, type Objective };
export type Mode = (typeof MODES)[number];
export type BackendChoice = (typeof BACKENDS)[number];
