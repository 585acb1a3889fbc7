import { MODE_NAMES } from '../train/modes.js';

/** The axes of the paper's table, in the paper's order (rows: task, objective; columns: mode). */
export const TASKS = ['ocr', 'chunking', 'segmentation'] as const;
export const OBJECTIVES = ['cross-entropy', 'ssvm', 'log-likelihood', 'cross-entropy-mf'] as const;
/** The training modes, defined in train/modes.ts (one entry per mode). */
export const MODES = MODE_NAMES;
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export type Objective = (typeof OBJECTIVES)[number];
export type Mode = (typeof MODES)[number];
export type BackendChoice = (typeof BACKENDS)[number];
