/**
 * The on-disk layout of one run folder (see README "Results layout"). Every file is written
 * atomically; a run is finished only when run.json says `done` and final.json validates against its
 * schema (store.ts; docs/failure-modes.md).
 *
 *   <results-dir>/<experiment>/<run folder>/
 *     config.json    the resolved cell config (CellConfig); its hash is the run id
 *     run.json       RunRecord: status, times, back end, versions, git, host, seed
 *     metrics.jsonl  one EpochRecord per line
 *     final.json     FinalRecord: test metrics, and the last epoch's validation metrics
 *     log.txt        human-readable log
 *   <results-dir>/<experiment>/sweep.json   the cells every `sps run` there planned (SweepRecord)
 */

/** `interrupted`: stopped by a signal to the sweep; the next sweep redoes it like a run left `running`. */
export type RunStatus = 'running' | 'done' | 'failed' | 'interrupted';

export interface RunRecord {
  id: string;
  status: RunStatus;
  experiment: string;
  task: string;
  objective: string;
  mode: string;
  seed: number;
  /** How many seeds the sweep that started this run planned for its (task, objective, mode) cell. */
  planned_seeds: number;
  started_at: string;
  ended_at?: string;
  duration_s?: number;
  backend?: { name: string; reason: string };
  versions: Record<string, string>;
  git: { commit: string | null; dirty: boolean | null };
  host: string;
  pid: number;
  node: string;
  command: string;
  /** What the task reported about its inputs (RunContext.describe), e.g. the word vectors used. */
  inputs?: Record<string, unknown>;
  error?: { message: string; stack?: string; epoch?: number };
  /** Things a finished run should not be trusted blindly for (e.g. a loss that diverged but stayed finite). */
  warnings?: string[];
}

export interface EpochRecord {
  epoch: number;
  /** The phase of training this epoch belongs to (stage mode has several). */
  phase: string;
  losses: Record<string, number>;
  metrics: Record<string, number>;
  alpha?: number;
  /** Online scaling: the whole L_α curve on the selection subset. */
  alpha_curve?: { alpha: number; loss: number }[];
  seconds: number;
  /** Anything else a task wants to log per epoch (e.g. norms of U and W). */
  extra?: Record<string, unknown>;
}

export interface FinalRecord {
  /** Key in `metrics` of the headline metric that the table shows (a percentage). */
  primary: string;
  metrics: Record<string, number>;
  /** The validation metrics (`val_*`) of the last epoch that logged any, and that epoch; absent in older runs. */
  validation?: Record<string, number>;
  validation_epoch?: number;
  [extra: string]: unknown;
}

/** The plan of a results folder: the union of the cells of every `sps run` into it (a partial rerun adds, never hides). */
export interface SweepRecord {
  experiment: string;
  /** The config file of the latest `sps run` here. */
  config_file: string;
  created_at: string;
  updated_at?: string;
  /** `swept`: in a sweep, the cell's values of the swept key paths. */
  cells: { id: string; folder: string; task: string; objective: string; mode: string; seed: number; swept?: Record<string, unknown> }[];
}
