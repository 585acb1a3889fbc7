import { MODES } from '../core/constants.js';
import { cellKey, emptyCell, groupRuns, type CellStats } from './group.js';
import { compareModes, compareObjectives, compareTasks } from './order.js';
import { paperKey, type PaperEntry } from './paper.js';
import { STD_KIND } from './stats.js';
import { damageMessage, type ResultsScan, type StoredRun } from './store.js';

/**
 * The paper's table behind `sps table`: a row per (experiment, task, objective, setting), a column
 * per mode, each cell as group.ts counts it, joined with the paper's numbers for `--compare paper`.
 * Rendering lives in render.ts. See docs/results-table.md for how to read the result.
 */

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
  // A row is a cell without its mode.
  const addRow = (r: RowKey) => rowKeys.set(cellKey(r.experiment, r.task, r.objective, '', r.variant), r);
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
