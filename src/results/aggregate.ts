import { canonicalJson, determiningConfig } from '../config/cells.js';
import { ABSENT_MEANS, MODES, OBJECTIVES, TASKS } from '../core/constants.js';
import { claimedKeys, MODE_SPECS, type ModeSpec } from '../core/modes.js';
import type { CellConfig } from '../core/task.js';
import { paperKey, type PaperEntry } from './paper.js';
import { damageMessage, type ResultsScan, type StoredRun } from './store.js';
import { SpsError } from '../util/errors.js';

/**
 * Aggregation behind `sps table`: pure functions from run folders (StoredRun) to a ResultsTable.
 * Rendering lives in render.ts. See docs/results-table.md for how to read the result.
 *
 * A cell is (experiment, task, objective, mode, settings): runs whose configs differ in a key that
 * decides the result (the run id's config without the seed, `settingsOf`) are never averaged
 * together; each further setting of a (task, objective, mode) gets a row of its own, labelled by what
 * differs. Its value is the mean over finished runs (run.json done and a valid final.json), one per
 * seed, of final.metrics[final.primary], with the sample standard deviation (n − 1 denominator;
 * undefined, shown "—", when n = 1).
 */

export const STD_KIND = 'sample' as const;
export const STD_DESCRIPTION = 'sample standard deviation over seeds (n − 1 denominator); undefined (shown as —) when n = 1';

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 denominator), two-pass; null when fewer than 2 values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

/** Comparator for one axis: values of `known` first in that order, then the others alphabetically. */
export function axisOrder(known: readonly string[]): (a: string, b: string) => number {
  return (a, b) => {
    const ia = known.indexOf(a);
    const ib = known.indexOf(b);
    if (ia >= 0 && ib >= 0) return ia - ib;
    if (ia >= 0) return -1;
    if (ib >= 0) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };
}

export const compareTasks = axisOrder(TASKS);
export const compareObjectives = axisOrder(OBJECTIVES);
export const compareModes = axisOrder(MODES);

/** The config without its top-level `seed` (runs of one cell are expected to differ only there). */
export function configWithoutSeed(config: Record<string, unknown>): Record<string, unknown> {
  const { seed: _seed, ...rest } = config;
  return rest;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where two JSON values differ: dotted paths (`a.b[2]`) with the value on each side; [] when equal. */
export function configDiffs(a: unknown, b: unknown, prefix = ''): { path: string; a: unknown; b: unknown }[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => configDiffs(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((x, i) => configDiffs(x, b[i], `${prefix}[${i}]`));
  }
  if (Object.is(a, b)) return [];
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && JSON.stringify(a) === JSON.stringify(b)) return [];
  return [{ path: prefix === '' ? '(root)' : prefix, a, b }];
}

/** Dotted paths (`a.b[2]`) at which two JSON values differ; [] when they are equal. */
export function configDiffPaths(a: unknown, b: unknown): string[] {
  return configDiffs(a, b).map((d) => d.path);
}

/**
 * The settings of a run that decide its result, without the seed: for a config written by `sps run`,
 * the part its run id hashes (config/cells.ts `determiningConfig`), so two runs with equal settings
 * are repeats of one experiment over seeds; for any other config, the config without seed,
 * experiment and back end.
 */
export function settingsOf(config: Record<string, unknown>): Record<string, unknown> {
  const isCell = isPlainObject(config.train) && isPlainObject(config.scaling) && typeof config.mode === 'string';
  const { seed: _seed, experiment: _e, backend: _b, ...rest } = isCell ? determiningConfig(config as unknown as CellConfig) : config;
  return rest;
}

const VARIANT_DIFFS_SHOWN = 3;

/** A short label of a setting: what differs from the cell's main setting, e.g. `train.epochs=3`. */
function variantLabel(diffs: { path: string; b: unknown }[]): string {
  const value = (v: unknown): string => {
    const s = v === undefined ? 'unset' : JSON.stringify(v);
    return s.length > 24 ? `${s.slice(0, 23)}…` : s;
  };
  const shown = diffs.slice(0, VARIANT_DIFFS_SHOWN).map((d) => `${d.path}=${value(d.b)}`);
  return shown.join(', ') + (diffs.length > VARIANT_DIFFS_SHOWN ? `, +${diffs.length - VARIANT_DIFFS_SHOWN} more` : '');
}

export interface CellStats {
  experiment: string;
  task: string;
  objective: string;
  mode: string;
  /**
   * '' for the main setting of (experiment, task, objective, mode) (most finished runs); for each
   * other setting, what differs from the main one (`train.epochs=3`).
   */
  variant: string;
  /** Number of settings with runs for this (experiment, task, objective, mode); > 1 flags every one. */
  variants: number;
  /** final.primary of the finished runs ('a/b' if they disagree; null when none finished). */
  metric: string | null;
  /** Per-seed values of the primary metric of the finished runs, sorted by seed. */
  values: number[];
  seeds: number[];
  /** Number of finished runs (the n of the cell). */
  n: number;
  /** Run folders of this cell of any status (0 for a cell that only the paper has). */
  runs: number;
  /** The maximum run.planned_seeds over the cell's runs (0 when it has none). */
  planned: number;
  mean: number | null;
  /** Sample std (n − 1); null when n < 2. */
  std: number | null;
  /** n < planned: fewer finished seeds than the sweep planned. */
  partial: boolean;
  /** Back ends the counted runs were made on (run.json `backend.name`, sorted; '?' for runs that do not say). */
  backends: string[];
  /** The reader must look at the notes: partial, runs with other settings exist (variants > 1), or several back ends. */
  flagged: boolean;
  failed: number;
  /** Runs neither done, failed nor damaged (still running, interrupted, killed). */
  unfinished: number;
  /** Runs with an unusable file (e.g. a final.json that does not validate): not done, see warnings. */
  damaged: number;
  /** Config paths in which this setting differs from the others of its (task, objective, mode); [] when it is the only one. */
  configDiffers: string[];
  paperMean: number | null;
  paperStd: number | null;
  /** mean − paperMean in percentage points; null unless both exist. */
  diff: number | null;
}

export interface TableRow {
  experiment: string;
  task: string;
  objective: string;
  /** The setting of the row's cells ('' for the main ones; see CellStats.variant). */
  variant: string;
  /** Row label for the task: the task, plus ` (experiment)` when the task has runs of several experiments, plus ` [variant]`. */
  label: string;
  /** By mode; undefined where the cell has neither runs nor (with --compare paper) a paper value. */
  cells: Record<string, CellStats | undefined>;
}

export interface ResultsTable {
  /** Column order: the paper's modes, then any other modes present, alphabetically. */
  modes: string[];
  rows: TableRow[];
  /** Every existing cell in row, then column order. */
  cells: CellStats[];
  compare: boolean;
  stdKind: typeof STD_KIND;
  /** True when rows of one task come from several experiments somewhere in the table. */
  multipleExperiments: boolean;
  /** Run folders found; damaged includes the unreadable folders, unfinished those without run.json. */
  totals: { runs: number; done: number; failed: number; unfinished: number; damaged: number };
  /** Things the reader should know (other settings in a cell, damaged runs, diverged losses, ...). */
  warnings: string[];
}

export interface BuildOptions {
  /** The paper's table; when given, the table compares against it (`--compare paper`). */
  paper?: readonly PaperEntry[];
  /** Run folders that belong to no cell (scanResults): reported in the warnings and totals. */
  unreadable?: ResultsScan['unreadable'];
  incomplete?: ResultsScan['incomplete'];
}

const SEP = '\u0000';

function cellKey(experiment: string, task: string, objective: string, mode: string, variant = ''): string {
  return [experiment, task, objective, mode, variant].join(SEP);
}

function emptyCell(experiment: string, task: string, objective: string, mode: string): CellStats {
  return {
    experiment, task, objective, mode, variant: '', variants: 1,
    metric: null, values: [], seeds: [], n: 0, runs: 0, planned: 0,
    mean: null, std: null, partial: false, backends: [], flagged: false, failed: 0, unfinished: 0, damaged: 0, configDiffers: [],
    paperMean: null, paperStd: null, diff: null,
  };
}

function cellName(c: { experiment: string; task: string; objective: string; mode: string; variant: string }): string {
  return `${c.experiment}/${c.task}/${c.objective}/${c.mode}${c.variant === '' ? '' : ` [${c.variant}]`}`;
}

interface Setting {
  settings: Record<string, unknown>;
  runs: StoredRun[];
  done: StoredRun[];
  firstStart: string;
}

/** The runs of one setting as a cell, with the settings and the finished runs counted (one per seed). */
export interface SettingCell {
  cell: CellStats;
  settings: Record<string, unknown>;
  kept: StoredRun[];
}

/** The runs of one setting as a cell: one finished run per seed (the latest), counts and statistics. */
function settingCell(base: CellStats, g: Setting, warnings: string[]): SettingCell {
  const c: CellStats = { ...base };
  for (const r of g.runs) {
    c.runs += 1;
    const planned = Number(r.run.planned_seeds);
    if (Number.isFinite(planned) && planned > c.planned) c.planned = planned;
    if (r.damage) c.damaged += 1;
    else if (r.run.status === 'failed') c.failed += 1;
    else if (!r.done) c.unfinished += 1;
  }
  // One value per seed: a seed finished twice with the same settings (copied folders, two --out
  // directories under one root) is one repeat, not two.
  const bySeed = new Map<number, StoredRun[]>();
  for (const r of g.done) bySeed.set(r.run.seed, [...(bySeed.get(r.run.seed) ?? []), r]);
  const when = (r: StoredRun) => String(r.run.ended_at ?? r.run.started_at);
  const kept: StoredRun[] = [];
  for (const [seed, rs] of [...bySeed].sort((a, b) => a[0] - b[0])) {
    const sorted = [...rs].sort((a, b) => (when(a) < when(b) ? -1 : when(a) > when(b) ? 1 : a.dir < b.dir ? -1 : 1));
    const latest = sorted[sorted.length - 1];
    kept.push(latest);
    if (rs.length > 1) warnings.push(`${cellName(c)}: seed ${seed} has ${rs.length} finished runs (${rs.map((r) => r.dir).join(', ')}); counted once, from the latest (${latest.dir}).`);
  }
  c.values = kept.map((r) => r.final!.metrics[r.final!.primary]);
  c.seeds = kept.map((r) => r.run.seed);
  c.n = kept.length;
  if (c.n > 0) {
    c.mean = mean(c.values);
    c.std = sampleStd(c.values);
    const primaries = [...new Set(kept.map((r) => r.final!.primary))].sort();
    c.metric = primaries.join('/');
    if (primaries.length > 1) warnings.push(`${cellName(c)}: runs report different primary metrics (${primaries.join(', ')}); their values are averaged together.`);
  }
  if (c.planned < c.n) c.planned = c.n;
  c.partial = c.n < c.planned;
  // Back ends agree only to rounding (docs/backends.md), so a cell mixing them is worth a mark.
  c.backends = [...new Set(kept.map((r) => r.run.backend?.name ?? '?'))].sort();
  c.flagged = c.partial || c.variants > 1 || c.backends.length > 1;
  return { cell: c, settings: g.settings, kept };
}

/**
 * Group runs by (experiment, task, objective, mode) and, within, by their settings (`settingsOf`);
 * compute each cell's statistics. Also reports damaged runs and runs whose loss diverged.
 */
export function groupRuns(runs: readonly StoredRun[]): { cells: CellStats[]; warnings: string[] } {
  const { groups, warnings } = groupSettings(runs);
  return { cells: groups.map((g) => g.cell), warnings };
}

/** groupRuns, keeping each cell's settings and its counted runs (for `sps table --by` and `sps select`). */
export function groupSettings(runs: readonly StoredRun[]): { groups: SettingCell[]; warnings: string[] } {
  const warnings: string[] = [];
  const groups = new Map<string, { base: CellStats; settings: Map<string, Setting> }>();
  for (const r of runs) {
    const { experiment, task, objective, mode } = r.run;
    const key = cellKey(experiment, task, objective, mode);
    let g = groups.get(key);
    if (!g) {
      g = { base: emptyCell(experiment, task, objective, mode), settings: new Map() };
      groups.set(key, g);
    }
    const settings = settingsOf(r.config);
    const skey = canonicalJson(settings);
    let s = g.settings.get(skey);
    if (!s) {
      s = { settings, runs: [], done: [], firstStart: String(r.run.started_at) };
      g.settings.set(skey, s);
    }
    s.runs.push(r);
    if (String(r.run.started_at) < s.firstStart) s.firstStart = String(r.run.started_at);
    if (r.damage) warnings.push(damageMessage(r.dir, r.damage));
    else if (r.done) s.done.push(r);
    for (const w of r.run.warnings ?? []) warnings.push(`${r.dir}: ${w}`);
  }

  const cells: SettingCell[] = [];
  for (const { base, settings } of groups.values()) {
    // The main setting: the most finished runs, then the most runs, then the one started first.
    const list = [...settings.entries()].sort(
      ([ka, a], [kb, b]) => b.done.length - a.done.length || b.runs.length - a.runs.length || (a.firstStart < b.firstStart ? -1 : a.firstStart > b.firstStart ? 1 : ka < kb ? -1 : 1),
    );
    const main = list[0][1].settings;
    const labels = new Set<string>();
    const mainDiffs = new Set<string>();
    const made: SettingCell[] = [];
    for (const [i, [, g]] of list.entries()) {
      const diffs = i === 0 ? [] : configDiffs(main, g.settings);
      let variant = i === 0 ? '' : variantLabel(diffs);
      if (labels.has(variant)) variant = `${variant} #${i + 1}`;
      labels.add(variant);
      for (const d of diffs) mainDiffs.add(d.path);
      made.push(settingCell({ ...base, variant, variants: list.length, configDiffers: diffs.map((d) => d.path) }, g, warnings));
    }
    if (list.length > 1) {
      made[0].cell.configDiffers = [...mainDiffs].sort();
      const counts = made.map(({ cell: c }) => `${c.n} finished ${c.variant === '' ? 'with the main settings' : `with [${c.variant}]`}`).join(', ');
      warnings.push(`${cellName(base)}: runs with different settings are kept apart (differing: ${made[0].cell.configDiffers.join(', ')}): ${counts}.`);
    }
    cells.push(...made);
  }
  return { groups: cells, warnings };
}

/** Group, order, and (optionally) join with the paper's table. */
export function buildTable(runs: readonly StoredRun[], options: BuildOptions = {}): ResultsTable {
  const { cells: grouped, warnings } = groupRuns(runs);
  const unreadable = options.unreadable ?? [];
  const incomplete = options.incomplete ?? [];
  for (const u of unreadable) warnings.push(damageMessage(u.dir, u.damage));
  for (const dir of incomplete) {
    warnings.push(`${dir}: no run.json, so it is not counted. A run killed as it started leaves such a folder; the next \`sps run\` of its config redoes the cell (or delete the folder).`);
  }
  const compare = options.paper !== undefined;
  const byKey = new Map(grouped.map((c) => [cellKey(c.experiment, c.task, c.objective, c.mode, c.variant), c]));

  // Rows: every (experiment, task, objective, setting) with a run; with the paper, every paper row of the tasks present.
  type RowKey = { experiment: string; task: string; objective: string; variant: string };
  const rowKeys = new Map<string, RowKey>();
  const addRow = (r: RowKey) => rowKeys.set([r.experiment, r.task, r.objective, r.variant].join(SEP), r);
  for (const c of grouped) addRow({ experiment: c.experiment, task: c.task, objective: c.objective, variant: c.variant });
  const paperByKey = new Map<string, PaperEntry>();
  if (options.paper) {
    for (const p of options.paper) paperByKey.set(paperKey(p.task, p.objective, p.mode), p);
    const experimentsOfTask = new Map<string, Set<string>>();
    for (const c of grouped) {
      if (!experimentsOfTask.has(c.task)) experimentsOfTask.set(c.task, new Set());
      experimentsOfTask.get(c.task)!.add(c.experiment);
    }
    for (const p of options.paper) {
      for (const experiment of experimentsOfTask.get(p.task) ?? []) {
        addRow({ experiment, task: p.task, objective: p.objective, variant: '' });
        const key = cellKey(experiment, p.task, p.objective, p.mode);
        if (!byKey.has(key)) byKey.set(key, emptyCell(experiment, p.task, p.objective, p.mode));
      }
    }
  }

  const modes = [...new Set([...MODES, ...[...byKey.values()].map((c) => c.mode)])].sort(compareModes);
  const rowList = [...rowKeys.values()].sort(
    (a, b) =>
      compareTasks(a.task, b.task) ||
      (a.experiment < b.experiment ? -1 : a.experiment > b.experiment ? 1 : 0) ||
      compareObjectives(a.objective, b.objective) ||
      (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0),
  );
  const experimentsPerTask = new Map<string, Set<string>>();
  for (const r of rowList) {
    if (!experimentsPerTask.has(r.task)) experimentsPerTask.set(r.task, new Set());
    experimentsPerTask.get(r.task)!.add(r.experiment);
  }
  const multipleExperiments = [...experimentsPerTask.values()].some((s) => s.size > 1);

  const rows: TableRow[] = [];
  const cells: CellStats[] = [];
  for (const r of rowList) {
    const label = (experimentsPerTask.get(r.task)!.size > 1 ? `${r.task} (${r.experiment})` : r.task) + (r.variant === '' ? '' : ` [${r.variant}]`);
    const row: TableRow = { ...r, label, cells: {} };
    for (const mode of modes) {
      const c = byKey.get(cellKey(r.experiment, r.task, r.objective, mode, r.variant));
      if (c && compare) {
        const p = paperByKey.get(paperKey(r.task, r.objective, mode));
        c.paperMean = p?.mean ?? null;
        c.paperStd = p?.std ?? null;
        c.diff = p && c.mean !== null ? c.mean - p.mean : null;
      }
      row.cells[mode] = c;
      if (c) cells.push(c);
    }
    rows.push(row);
  }

  const totals = { runs: runs.length + unreadable.length + incomplete.length, done: 0, failed: 0, unfinished: incomplete.length, damaged: unreadable.length };
  for (const r of runs) {
    if (r.damage) totals.damaged += 1;
    else if (r.done) totals.done += 1;
    else if (r.run.status === 'failed') totals.failed += 1;
    else totals.unfinished += 1;
  }
  return { modes, rows, cells, compare, stdKind: STD_KIND, multipleExperiments, totals, warnings };
}

/** Mean ± sample std over seeds of one metric. */
export interface SeedStat {
  metric: string | null;
  values: number[];
  n: number;
  mean: number | null;
  std: number | null;
}

/** One row of `sps table --by`: one setting of a (task, objective, mode), labelled by its swept values. */
export interface ByRow {
  /** The cell as `sps table` counts it (test metric: final.json's primary). */
  cell: CellStats;
  /** Each --by key's value in this setting; undefined where the key is not in the cell's run id (its mode reads no such key). */
  by: Record<string, unknown>;
  /** The final validation metric over the same runs (final.json `validation`). */
  val: SeedStat;
  /** The runs counted, one per seed. */
  runs: StoredRun[];
  /** Online rows: the final α over seeds (final.json `alpha`); null for other modes or without α. */
  alpha: { mean: number; min: number; max: number; n: number } | null;
  /**
   * Rows of a mode other than joint: of the seeds this row and its joint row (same settings where
   * joint reads them) both finished, how many gave final.json metrics identical to joint's; null
   * without such a joint row.
   */
  sameAsJoint: { same: number; of: number } | null;
}

export interface ByTable {
  keys: string[];
  rows: ByRow[];
  warnings: string[];
}

/** The value at a dotted key path of a JSON tree; undefined when absent. */
export function valueAt(tree: unknown, key: string): unknown {
  let node = tree;
  for (const k of key.split('.')) {
    if (!isPlainObject(node) || !Object.hasOwn(node, k)) return undefined;
    node = node[k];
  }
  return node;
}

/**
 * A --by key's value in a setting: the stored value, or for a key stored as absent at its default
 * (`ABSENT_MEANS`) that default, when the cell's mode reads the key (it is in the run id once set).
 */
function byValue(settings: Record<string, unknown>, key: string): unknown {
  const v = valueAt(settings, key);
  if (v !== undefined || !(key in ABSENT_MEANS)) return v;
  const path = key.split('.');
  // The settings are a cell config without seed, experiment and back end: the run-id rule applies.
  const filled = structuredClone(settings);
  let node: Record<string, unknown> = filled;
  for (const k of path.slice(0, -1)) {
    if (!isPlainObject(node[k])) return undefined;
    node = node[k] as Record<string, unknown>;
  }
  node[path.at(-1)!] = ABSENT_MEANS[key];
  return valueAt(settingsOf(filled), key);
}

/** A run's value of a swept key, as `sps table --by` labels it: undefined where the run's mode does not read the key. */
export function settingValue(config: Record<string, unknown>, key: string): unknown {
  return byValue(settingsOf(config), key);
}

/** Sweep values in order: numbers by size, anything else by its JSON text; an absent value last. */
export function compareValues(a: unknown, b: unknown): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const [x, y] = [canonicalJson(a), canonicalJson(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * A run's final validation metrics: final.json's `validation` (the last epoch's `val_*` metrics), or
 * for a run written before final.json recorded them, the last epoch of metrics.jsonl that has any.
 */
export function validationOf(r: StoredRun, readEpochs: (dir: string) => { metrics: Record<string, number> }[]): Record<string, number> {
  if (r.final?.validation) return r.final.validation;
  const epochs = readEpochs(r.dir);
  for (let i = epochs.length - 1; i >= 0; i--) {
    const val = Object.entries(epochs[i].metrics ?? {}).filter(([k]) => k.startsWith('val_'));
    if (val.length > 0) return Object.fromEntries(val);
  }
  return {};
}

export function seedStat(metric: string | null, values: number[]): SeedStat {
  return { metric, values, n: values.length, mean: values.length > 0 ? mean(values) : null, std: sampleStd(values) };
}

/**
 * `sps table --by KEYS`: every setting of every (task, objective, mode) on a row of its own (as
 * groupRuns keeps them apart), labelled by the values of KEYS, with the test metric and the final
 * validation metric (`valMetric`, default val_<primary> or else the first val_* metric) over seeds.
 */
export function buildByTable(runs: readonly StoredRun[], keys: readonly string[], readEpochs: (dir: string) => { metrics: Record<string, number> }[], valMetric?: string): ByTable {
  const { groups, warnings: all } = groupSettings(runs);
  // Settings that differ only in the --by keys are what the table is for: no † and no warning for them.
  const under = (path: string) => keys.some((k) => path === k || path.startsWith(`${k}.`) || path.startsWith(`${k}[`));
  const apart = new Set(groups.filter((g) => g.cell.configDiffers.some((p) => !under(p))).map((g) => cellName({ ...g.cell, variant: '' })));
  const warnings = all.filter((w) => !groups.some((g) => !apart.has(cellName({ ...g.cell, variant: '' })) && w.startsWith(`${cellName({ ...g.cell, variant: '' })}: runs with different settings are kept apart`)));
  for (const key of keys) {
    if (!(key in ABSENT_MEANS) && !runs.some((r) => valueAt(r.config, key) !== undefined)) {
      throw new SpsError(`--by ${key}: no run's config.json has this key; give a key path of the config as the sweep wrote it (e.g. train.lr, scaling.alpha)`);
    }
  }
  const rows = groups.map(({ cell: counted, settings, kept }): ByRow => {
    const cell = apart.has(cellName({ ...counted, variant: '' })) ? counted : { ...counted, variant: '', variants: 1, flagged: counted.partial };
    const vals = kept.map((r) => validationOf(r, readEpochs));
    const primary = kept[0]?.final?.primary;
    const metric = valMetric ?? (primary && vals.some((v) => `val_${primary}` in v) ? `val_${primary}` : (Object.keys(vals[0] ?? {}).sort()[0] ?? null));
    const missing = metric === null ? kept : kept.filter((_, i) => !(metric in vals[i]));
    if (missing.length > 0) warnings.push(`${cellName(cell)}: ${missing.length} run${missing.length > 1 ? 's have' : ' has'} no final validation metric${metric ? ` ${metric}` : ''} (${missing.map((r) => r.dir).join(', ')})`);
    const values = metric === null ? [] : vals.filter((v) => metric in v).map((v) => v[metric]);
    const alphas = searchesAlpha(counted.mode) ? kept.map((r) => r.final?.alpha).filter((a): a is number => typeof a === 'number' && Number.isFinite(a)) : [];
    const alpha = alphas.length > 0 ? { mean: mean(alphas), min: Math.min(...alphas), max: Math.max(...alphas), n: alphas.length } : null;
    return { cell, by: Object.fromEntries(keys.map((k) => [k, byValue(settings, k)])), val: seedStat(metric, values), runs: kept, alpha, sameAsJoint: null };
  });
  for (const r of rows) if (r.cell.mode !== 'joint') r.sameAsJoint = sameAsJoint(r, rows, keys);
  const str = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  rows.sort(
    (a, b) =>
      compareTasks(a.cell.task, b.cell.task) ||
      str(a.cell.experiment, b.cell.experiment) ||
      compareObjectives(a.cell.objective, b.cell.objective) ||
      compareModes(a.cell.mode, b.cell.mode) ||
      keys.reduce((d, k) => d || compareValues(a.by[k], b.by[k]), 0) ||
      str(a.cell.variant, b.cell.variant),
  );
  return { keys: [...keys], rows, warnings };
}

/** What a run's result is, for "identical to joint": every test metric and every final validation metric. */
const resultOf = (r: StoredRun): string => canonicalJson({ metrics: r.final?.metrics, validation: r.final?.validation ?? null });

/**
 * Of the seeds `row` and its joint row both finished, how many are identical to joint's (online with
 * α left at 1, a stage schedule that is joint's): the joint row of the same experiment, task and
 * objective whose --by values agree with the row's where both have one.
 */
function sameAsJoint(row: ByRow, rows: readonly ByRow[], keys: readonly string[]): ByRow['sameAsJoint'] {
  const c = row.cell;
  const joints = rows.filter((j) => j.cell.mode === 'joint' && j.cell.experiment === c.experiment && j.cell.task === c.task && j.cell.objective === c.objective
    && keys.every((k) => j.by[k] === undefined || row.by[k] === undefined || canonicalJson(j.by[k]) === canonicalJson(row.by[k])));
  // Stage, which reads no train.lr, beside joint at two learning rates: no one joint row to compare with.
  if (joints.length !== 1) return null;
  const [joint] = joints;
  const bySeed = new Map(joint.runs.map((r) => [r.run.seed, resultOf(r)]));
  const common = row.runs.filter((r) => bySeed.has(r.run.seed));
  if (common.length === 0) return null;
  return { same: common.filter((r) => bySeed.get(r.run.seed) === resultOf(r)).length, of: common.length };
}

/** A mode whose entry searches α after each epoch (online): its final α is a result worth a column. */
const searchesAlpha = (mode: string): boolean => Object.values(MODE_SPECS).some((spec) => spec.name === mode && spec.afterEpoch !== undefined);

/** Two means this close are a tie: the selection then does not hang on float rounding. */
export const SELECT_TIE = 1e-9;

export const SELECT_RULE =
  'for each (experiment, task, objective, mode), the --by values with the highest mean of the validation metric over seeds (every val_* metric sps logs is a percentage, higher is better); means within 1e-9 are a tie, which goes to the smaller value (numbers by size, other values by their JSON text, the first --by key first)';

export interface Selection {
  experiment: string;
  task: string;
  objective: string;
  mode: string;
  values: Record<string, unknown>;
  /** The chosen row. */
  row: ByRow;
  /** Every row that had validation values, best first. */
  candidates: ByRow[];
  /** Tied with the chosen row on the mean, and lost by the tie rule. */
  tiedWith: ByRow[];
}

/**
 * `sps select`: the best --by values of each (experiment, task, objective, mode) by `metric`, which
 * must be a validation metric (`val_*`): choosing on test would report a number chosen on test.
 * Rows whose cell has none of the keys (a mode that reads none of them) are left out; the notes say so.
 */
export function selectBest(table: ByTable, metric: string): { selections: Selection[]; notes: string[] } {
  if (!metric.startsWith('val_')) {
    throw new SpsError(`--metric ${metric}: not a validation metric. sps select chooses on validation only (metrics named val_*, e.g. val_accuracy, val_f1), so that the test numbers stay a fair estimate; the test metric is reported beside the choice`);
  }
  const notes: string[] = [];
  const groups = new Map<string, ByRow[]>();
  for (const r of table.rows) {
    const key = cellName({ ...r.cell, variant: '' });
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const selections: Selection[] = [];
  const sameValues = (a: ByRow, b: ByRow) => table.keys.every((k) => canonicalJson(a.by[k] ?? null) === canonicalJson(b.by[k] ?? null));
  for (const [name, rows] of groups) {
    const swept = rows.filter((r) => table.keys.some((k) => r.by[k] !== undefined));
    if (swept.length === 0) {
      notes.push(`${name}: its runs have none of ${table.keys.join(', ')} in their run id (the mode reads none of them); nothing to select`);
      continue;
    }
    const clash = swept.find((r) => swept.some((q) => q !== r && sameValues(q, r)));
    if (clash) {
      throw new SpsError(`${name}: several settings have ${table.keys.map((k) => `${k}=${JSON.stringify(clash.by[k])}`).join(', ')} (they differ in ${clash.cell.configDiffers.join(', ') || 'other keys'}); add the differing key to --by, or select in a folder that holds one of them`);
    }
    const candidates = swept.filter((r) => r.val.mean !== null);
    const without = swept.filter((r) => r.val.mean === null);
    // A row without the metric because none of its runs finished says so, not that the metric is missing.
    const why = (r: ByRow): string =>
      r.cell.n > 0 ? `no ${metric}` : r.cell.damaged > 0 ? `no finished run (${r.cell.damaged} damaged: see the warnings; the next sps run of its config redoes them)` : `no finished run (${r.cell.failed} failed, ${r.cell.unfinished} unfinished)`;
    if (without.length > 0) notes.push(`${name}: ${without.map((r) => `${why(r)} for ${valuesText(table.keys, r.by)}`).join('; ')}; left out`);
    if (candidates.length === 0) continue;
    candidates.sort((a, b) => {
      const d = (b.val.mean as number) - (a.val.mean as number);
      return Math.abs(d) > SELECT_TIE ? d : table.keys.reduce((x, k) => x || compareValues(a.by[k], b.by[k]), 0);
    });
    const [best] = candidates;
    const tiedWith = candidates.slice(1).filter((r) => Math.abs((r.val.mean as number) - (best.val.mean as number)) <= SELECT_TIE);
    const seeds = new Set(candidates.map((r) => r.cell.seeds.join(' ')));
    if (seeds.size > 1) notes.push(`${name}: the candidates' means are over different seeds (${[...seeds].map((s) => `[${s}]`).join(', ')})`);
    const c = best.cell;
    selections.push({ experiment: c.experiment, task: c.task, objective: c.objective, mode: c.mode, values: Object.fromEntries(table.keys.map((k) => [k, best.by[k]])), row: best, candidates, tiedWith });
  }
  return { selections, notes };
}

export const SELECT_TASK_RULE =
  'for each (experiment, task), one set of --by values for all its (objective, mode) cells: the values with the highest average, over the cells that read every key, of each cell\'s mean validation metric over seeds (each cell weighs the same, whatever its number of seeds); only cells that ran every candidate count, and they must be every objective of the task in every mode that reads the keys (a choice over a subset is refused unless asked for with --subset, and is then marked as such); averages within 1e-9 are a tie, which goes to the smaller value as in the per-cell rule';

/**
 * The modes that read every one of `keys`: a `train` or `scaling` key that some mode claims
 * (ModeSpec.keys) is read by the claiming modes only; any other key by every mode (config/cells.ts).
 */
export function modesReading(keys: readonly string[]): string[] {
  const claimed = claimedKeys();
  const reads = (spec: ModeSpec, key: string): boolean => {
    const [section, name] = key.split('.');
    if (section === 'train' && claimed.train.has(name)) return (spec.keys.train as readonly string[]).includes(name);
    if (section === 'scaling' && claimed.scaling.has(name)) return (spec.keys.scaling as readonly string[]).includes(name);
    return true;
  };
  return Object.values(MODE_SPECS)
    .filter((spec) => keys.every((k) => reads(spec, k)))
    .map((spec) => spec.name);
}

/** One candidate of a pooled selection: its values and the averages over the cells. */
export interface PooledCandidate {
  values: Record<string, unknown>;
  /** Average over the cells of each cell's mean validation metric. */
  val: number;
  /** Average over the same cells of each cell's mean test metric (reported, never used to choose). */
  test: number | null;
  rows: ByRow[];
}

export interface PooledSelection {
  experiment: string;
  task: string;
  /** The cells averaged over, `objective/mode`. */
  cells: string[];
  /**
   * The cells the rule asks for but the average lacks (`objective/mode`: every objective of the task
   * in every mode that reads the keys); empty when the choice covers them all.
   */
  missing: string[];
  best: PooledCandidate;
  candidates: PooledCandidate[];
  tiedWith: PooledCandidate[];
}

/**
 * `sps select --per task`: one choice of the --by values per (experiment, task), the paper's one
 * setting for every mode and objective (SELECT_TASK_RULE). A candidate is scored on the cells that
 * ran every candidate, so that no candidate's average leaves out a hard cell another one includes.
 */
export function selectPooled(
  table: ByTable,
  metric: string,
  /** The objectives a task has (its definition); undefined: the objectives its runs here have. */
  objectivesOf: (task: string) => readonly string[] | undefined = () => undefined,
): { selections: PooledSelection[]; notes: string[] } {
  selectBest({ keys: table.keys, rows: [], warnings: [] }, metric); // the same refusal of a test metric
  const notes: string[] = [];
  const tasks = new Map<string, ByRow[]>();
  const partial = new Set<string>();
  for (const r of table.rows) {
    const read = table.keys.filter((k) => r.by[k] !== undefined);
    // A cell that reads only some of the keys (joint reads scaling.selection but not online's grid)
    // has no candidate in common with the cells that read them all: it is left out, with a note.
    if (read.length > 0 && read.length < table.keys.length) partial.add(`${r.cell.experiment}/${r.cell.task}: ${r.cell.objective}/${r.cell.mode} reads only ${read.join(', ')} of the keys and is left out`);
    if (read.length < table.keys.length || r.val.mean === null) continue;
    const key = `${r.cell.experiment}/${r.cell.task}`;
    tasks.set(key, [...(tasks.get(key) ?? []), r]);
  }
  const selections: PooledSelection[] = [];
  for (const [name, rows] of tasks) {
    const cellOf = (r: ByRow) => `${r.cell.objective}/${r.cell.mode}`;
    const valuesKey = (r: ByRow) => canonicalJson(table.keys.map((k) => r.by[k] ?? null));
    const byValues = new Map<string, ByRow[]>();
    for (const r of rows) byValues.set(valuesKey(r), [...(byValues.get(valuesKey(r)) ?? []), r]);
    const groups = [...byValues.values()];
    for (const g of groups) {
      const twice = g.find((r, i) => g.findIndex((q) => cellOf(q) === cellOf(r)) !== i);
      if (twice) {
        throw new SpsError(
          `${name}: ${cellOf(twice)} has several settings with ${valuesText(table.keys, Object.fromEntries(table.keys.map((k) => [k, twice.by[k]])))} (they differ in ${twice.cell.configDiffers.join(', ') || 'other keys'}); add the differing key to --by, or keep one of them with --where KEY=VALUE`,
        );
      }
    }
    const everyCell = [...new Set(rows.map(cellOf))].sort();
    const common = everyCell.filter((c) => groups.every((g) => g.some((r) => cellOf(r) === c)));
    const dropped = everyCell.filter((c) => !common.includes(c));
    if (dropped.length > 0) notes.push(`${name}: ${dropped.join(', ')} did not run every candidate and are left out of the averages`);
    if (common.length === 0) {
      notes.push(`${name}: no cell ran every candidate; nothing to select`);
      continue;
    }
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const candidates: PooledCandidate[] = groups.map((g) => {
      const used = g.filter((r) => common.includes(cellOf(r)));
      const tests = used.map((r) => r.cell.mean);
      return {
        values: Object.fromEntries(table.keys.map((k) => [k, used[0].by[k]])),
        val: avg(used.map((r) => r.val.mean as number)),
        test: tests.every((t): t is number => t !== null) ? avg(tests) : null,
        rows: used,
      };
    });
    candidates.sort((a, b) => {
      const d = b.val - a.val;
      return Math.abs(d) > SELECT_TIE ? d : table.keys.reduce((x, k) => x || compareValues(a.values[k], b.values[k]), 0);
    });
    const [best] = candidates;
    const [experiment, task] = [rows[0].cell.experiment, rows[0].cell.task];
    const objectives = objectivesOf(task) ?? [...new Set(table.rows.filter((r) => r.cell.task === task).map((r) => r.cell.objective))];
    const wanted = objectives.flatMap((o) => modesReading(table.keys).map((m) => `${o}/${m}`));
    const missing = wanted.filter((c) => !common.includes(c));
    selections.push({ experiment, task, cells: common, missing, best, candidates, tiedWith: candidates.slice(1).filter((c) => Math.abs(c.val - best.val) <= SELECT_TIE) });
  }
  return { selections, notes: [...partial, ...notes] };
}

/** `train.lr=0.01 scaling.alpha=2`: the values as overrides for `sps run` (a list in its YAML flow form). */
export function valuesText(keys: readonly string[], values: Record<string, unknown>): string {
  return keys.filter((k) => values[k] !== undefined).map((k) => `${k}=${typeof values[k] === 'string' ? values[k] : JSON.stringify(values[k])}`).join(' ');
}
