import { OBJECTIVES, type Objective } from '../crf/types.js';
import { MODE_NAMES } from './modes.js';

/** The axes of the paper's table, in the paper's order (rows: task, objective; columns: mode). */
export const TASKS = ['ocr', 'chunking', 'segmentation'] as const;
/** The training modes, defined in core/modes.ts (one entry per mode). */
export const MODES = MODE_NAMES;
/**
 * The back ends: `native` is wasm with sps's C kernels (OpenBLAS products, oneDNN convolutions, the
 * LSTM, chain-CRF and Adam kernels: docs/native-kernels.md).
 */
export const BACKENDS = ['auto', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
/**
 * Former names still accepted wherever a back end is named (configs, --backend, $SPS_BACKEND) and
 * still found in the run.json of older runs: `blas` was the native back end's name before it held
 * more than OpenBLAS.
 */
export const BACKEND_ALIASES = { blas: 'native' } as const satisfies Record<string, BackendChoice>;
/** Every name a back end may be given: BACKENDS, then the aliases. */
export const BACKEND_NAMES = [...BACKENDS, ...(Object.keys(BACKEND_ALIASES) as (keyof typeof BACKEND_ALIASES)[])] as const;
/** An experiment's `name`: it names the results folder, and `--experiment` selects runs by it. */
export const EXPERIMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export { OBJECTIVES, type Objective };
export type Mode = (typeof MODES)[number];
export type BackendChoice = (typeof BACKENDS)[number];
export type BackendName = BackendChoice | keyof typeof BACKEND_ALIASES;

/**
 * The one name of a back end, whatever it was called when a config or run.json was written (`blas` →
 * `native`); names it does not know (a run.json from elsewhere, '?') pass through unchanged. Every
 * comparison of back-end names goes through it, so that runs recorded as blas and as native are
 * one back end to `sps table` and `sps run`.
 */
export function canonicalBackend<T extends string>(name: T): T extends BackendName ? BackendChoice : string;
export function canonicalBackend(name: string): string {
  return Object.hasOwn(BACKEND_ALIASES, name) ? BACKEND_ALIASES[name as keyof typeof BACKEND_ALIASES] : name;
}

/**
 * Keys that only some cells read: `train.ssvm_maximiser` (which potentials ssvm's Y* is decoded on)
 * matters to ssvm cells only, and among them only where the network has dropout: without dropout the
 * dropout-free potentials are the training potentials, so both maximisers compute the same thing.
 * Such a key enters the run id of the cells that read it only (config/cells.ts), so setting it
 * task-wide does not split the other cells; `sps table --by` shows nothing for it on the other rows,
 * `sps select --per task` chooses it over the objectives that read it alone, and `sps select --where`
 * on it leaves the runs that do not read it in.
 */
export const OBJECTIVE_KEYS: Readonly<Record<string, { objectives: readonly Objective[]; needs?: (model: Record<string, unknown>) => boolean }>> = {
  'train.ssvm_maximiser': { objectives: ['ssvm'], needs: (model) => typeof model.dropout === 'number' && model.dropout > 0 },
};

/** Whether cells of `objective` ever read the config key path `key` (OBJECTIVE_KEYS; every other key: yes). */
export function objectiveReads(objective: string, key: string): boolean {
  const entry = OBJECTIVE_KEYS[key];
  return entry === undefined || (entry.objectives as readonly string[]).includes(objective);
}

/** Whether this cell (its objective and model section) reads `key`: objectiveReads, and the entry's condition on the model. */
export function cellReads(cell: { objective: string; model?: unknown }, key: string): boolean {
  const needs = OBJECTIVE_KEYS[key]?.needs;
  const model = typeof cell.model === 'object' && cell.model !== null ? (cell.model as Record<string, unknown>) : {};
  return objectiveReads(cell.objective, key) && (needs === undefined || needs(model));
}

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
