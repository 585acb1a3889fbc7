import { OBJECTIVES, type Objective } from '../crf/types.js';
import { MODE_NAMES } from './modes.js';

/** The axes of the paper's table, in the paper's order (rows: task, objective; columns: mode). */
export const TASKS = ['ocr', 'chunking', 'segmentation'] as const;
/** The training modes, defined in core/modes.ts (one entry per mode). */
export const MODES = MODE_NAMES;
export const BACKENDS = ['auto', 'tensorflow', 'blas', 'wasm', 'cpu'] as const;
/** An experiment's `name`: it names the results folder, and `--experiment` selects runs by it. */
export const EXPERIMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export { OBJECTIVES, type Objective };
export type Mode = (typeof MODES)[number];
export type BackendChoice = (typeof BACKENDS)[number];

/**
 * Keys whose default is stored as an absent key, so that cells from before the key existed keep
 * their run ids, with the value their absence means. Tables that label rows by such a key
 * (`sps table --by`, `sps select`) show this value for a run that has no key.
 */
export const ABSENT_MEANS: Readonly<Record<string, unknown>> = {
  'data.source': 'full',
  'train.select': 'last',
  'scaling.alpha_grid_mode': 'absolute',
  'model.dropout': 0,
  'train.ssvm_maximiser': 'noisy',
};
