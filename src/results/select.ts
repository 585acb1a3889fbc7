import { canonicalJson } from '../config/cells.js';
import { objectiveReads } from '../core/constants.js';
import { claimedKeys, MODE_SPECS, type ModeSpec } from '../core/modes.js';
import { SpsError } from '../util/errors.js';
import type { ByRow, ByTable } from './by-table.js';
import { cellName } from './group.js';
import { compareValues } from './order.js';

/** `sps select`: the rules that choose the swept values of a --by table on validation only. */

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
  'for each (experiment, task), one set of --by values for all its (objective, mode) cells: the values with the highest average, over the cells that read every key, of each cell\'s mean validation metric over seeds (each cell weighs the same, whatever its number of seeds); only cells that ran every candidate count, and they must be every objective of the task that reads the keys in every mode that reads them (a choice over a subset is refused unless asked for with --subset, and is then marked as such); averages within 1e-9 are a tie, which goes to the smaller value as in the per-cell rule';

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
    // Every objective that reads the keys (a key of OBJECTIVE_KEYS: its objectives only), in every mode that does.
    const wanted = objectives.filter((o) => table.keys.every((k) => objectiveReads(o, k))).flatMap((o) => modesReading(table.keys).map((m) => `${o}/${m}`));
    const missing = wanted.filter((c) => !common.includes(c));
    selections.push({ experiment, task, cells: common, missing, best, candidates, tiedWith: candidates.slice(1).filter((c) => Math.abs(c.val - best.val) <= SELECT_TIE) });
  }
  return { selections, notes: [...partial, ...notes] };
}

/** `train.lr=0.01 scaling.alpha=2`: the values as overrides for `sps run` (a list in its YAML flow form). */
export function valuesText(keys: readonly string[], values: Record<string, unknown>): string {
  return keys.filter((k) => values[k] !== undefined).map((k) => `${k}=${typeof values[k] === 'string' ? values[k] : JSON.stringify(values[k])}`).join(' ');
}
