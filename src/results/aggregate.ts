import { MODES, OBJECTIVES, TASKS } from '../config/constants.js';
import { paperKey, type PaperEntry } from './paper.js';
import type { StoredRun } from './store.js';

/**
 * Aggregation behind `sps table`: pure functions from run folders (StoredRun) to a ResultsTable.
 * Rendering lives in render.ts. See docs/results-table.md for how to read the result.
 *
 * A cell is (experiment, task, objective, mode). Its value is the mean over finished runs
 * (run.status === 'done' and final.json present) of final.metrics[final.primary], with the sample
 * standard deviation (n − 1 denominator; undefined, shown "—", when n = 1).
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

/** Dotted paths (`a.b[2]`) at which two JSON values differ; [] when they are equal. */
export function configDiffPaths(a: unknown, b: unknown, prefix = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => configDiffPaths(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((x, i) => configDiffPaths(x, b[i], `${prefix}[${i}]`));
  }
  if (Object.is(a, b)) return [];
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && JSON.stringify(a) === JSON.stringify(b)) return [];
  return [prefix === '' ? '(root)' : prefix];
}

export interface CellStats {
  experiment: string;
  task: string;
  objective: string;
  mode: string;
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
  flagged: boolean;
  failed: number;
  /** Runs neither done nor failed (still running, killed, or done without final.json). */
  unfinished: number;
  /** Config paths (seed excluded) in which the finished runs of this cell differ; [] when they agree. */
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
  /** Row label for the task: the task, plus ` (experiment)` when the task has runs of several experiments. */
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
  totals: { runs: number; done: number; failed: number; unfinished: number };
  /** Things the reader should know (configs differing apart from seed, damaged final.json, ...). */
  warnings: string[];
}

export interface BuildOptions {
  /** The paper's table; when given, the table compares against it (`--compare paper`). */
  paper?: readonly PaperEntry[];
}

const SEP = '\u0000';

function cellKey(experiment: string, task: string, objective: string, mode: string): string {
  return [experiment, task, objective, mode].join(SEP);
}

function emptyCell(experiment: string, task: string, objective: string, mode: string): CellStats {
  return {
    experiment, task, objective, mode,
    metric: null, values: [], seeds: [], n: 0, runs: 0, planned: 0,
    mean: null, std: null, flagged: false, failed: 0, unfinished: 0, configDiffers: [],
    paperMean: null, paperStd: null, diff: null,
  };
}

function cellName(c: { experiment: string; task: string; objective: string; mode: string }): string {
  return `${c.experiment}/${c.task}/${c.objective}/${c.mode}`;
}

/** Group runs by (experiment, task, objective, mode) and compute each cell's statistics. */
export function groupRuns(runs: readonly StoredRun[]): { cells: CellStats[]; warnings: string[] } {
  const warnings: string[] = [];
  const groups = new Map<string, { cell: CellStats; done: { seed: number; value: number; config: Record<string, unknown>; dir: string; primary: string }[] }>();
  for (const r of runs) {
    const { experiment, task, objective, mode } = r.run;
    const key = cellKey(experiment, task, objective, mode);
    let g = groups.get(key);
    if (!g) {
      g = { cell: emptyCell(experiment, task, objective, mode), done: [] };
      groups.set(key, g);
    }
    const c = g.cell;
    c.runs += 1;
    const planned = Number(r.run.planned_seeds);
    if (Number.isFinite(planned) && planned > c.planned) c.planned = planned;
    if (r.run.status === 'failed') {
      c.failed += 1;
    } else if (r.run.status === 'done' && r.final) {
      const value = r.final.metrics?.[r.final.primary];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        warnings.push(`${r.dir}: final.json has no finite metric "${r.final.primary}" (its primary); run not counted.`);
        c.unfinished += 1;
      } else {
        g.done.push({ seed: r.run.seed, value, config: r.config, dir: r.dir, primary: r.final.primary });
      }
    } else {
      c.unfinished += 1;
    }
  }

  const cells: CellStats[] = [];
  for (const { cell: c, done } of groups.values()) {
    done.sort((a, b) => a.seed - b.seed || (a.dir < b.dir ? -1 : 1));
    c.values = done.map((d) => d.value);
    c.seeds = done.map((d) => d.seed);
    c.n = done.length;
    if (c.n > 0) {
      c.mean = mean(c.values);
      c.std = sampleStd(c.values);
      const primaries = [...new Set(done.map((d) => d.primary))].sort();
      c.metric = primaries.join('/');
      if (primaries.length > 1) warnings.push(`${cellName(c)}: runs report different primary metrics (${primaries.join(', ')}); their values are averaged together.`);
      const dup = c.seeds.filter((s, i) => i > 0 && c.seeds[i - 1] === s);
      if (dup.length > 0) warnings.push(`${cellName(c)}: seed ${[...new Set(dup)].join(', ')} counted more than once.`);
      const base = configWithoutSeed(done[0].config);
      const paths = new Set<string>();
      for (const d of done.slice(1)) for (const p of configDiffPaths(base, configWithoutSeed(d.config))) paths.add(p);
      c.configDiffers = [...paths].sort();
      if (c.configDiffers.length > 0) {
        warnings.push(`${cellName(c)}: its runs have different configs apart from seed (differing: ${c.configDiffers.join(', ')}).`);
      }
    }
    if (c.planned < c.n) c.planned = c.n;
    c.flagged = c.n < c.planned;
    cells.push(c);
  }
  return { cells, warnings };
}

/** Group, order, and (optionally) join with the paper's table. */
export function buildTable(runs: readonly StoredRun[], options: BuildOptions = {}): ResultsTable {
  const { cells: grouped, warnings } = groupRuns(runs);
  const compare = options.paper !== undefined;
  const byKey = new Map(grouped.map((c) => [cellKey(c.experiment, c.task, c.objective, c.mode), c]));

  // Rows: every (experiment, task, objective) with a run; with the paper, every paper row of the tasks present.
  const rowKeys = new Map<string, { experiment: string; task: string; objective: string }>();
  for (const c of grouped) rowKeys.set([c.experiment, c.task, c.objective].join(SEP), { experiment: c.experiment, task: c.task, objective: c.objective });
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
        rowKeys.set([experiment, p.task, p.objective].join(SEP), { experiment, task: p.task, objective: p.objective });
        const key = cellKey(experiment, p.task, p.objective, p.mode);
        if (!byKey.has(key)) byKey.set(key, emptyCell(experiment, p.task, p.objective, p.mode));
      }
    }
  }

  const modes = [...new Set([...MODES, ...[...byKey.values()].map((c) => c.mode)])].sort(compareModes);
  const rowList = [...rowKeys.values()].sort(
    (a, b) => compareTasks(a.task, b.task) || (a.experiment < b.experiment ? -1 : a.experiment > b.experiment ? 1 : 0) || compareObjectives(a.objective, b.objective),
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
    const label = experimentsPerTask.get(r.task)!.size > 1 ? `${r.task} (${r.experiment})` : r.task;
    const row: TableRow = { ...r, label, cells: {} };
    for (const mode of modes) {
      const c = byKey.get(cellKey(r.experiment, r.task, r.objective, mode));
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

  const totals = { runs: runs.length, done: 0, failed: 0, unfinished: 0 };
  for (const c of grouped) {
    totals.done += c.n;
    totals.failed += c.failed;
    totals.unfinished += c.unfinished;
  }
  return { modes, rows, cells, compare, stdKind: STD_KIND, multipleExperiments, totals, warnings };
}
