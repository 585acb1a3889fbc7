import { canonicalJson } from '../config/cells.js';
import { ABSENT_MEANS } from '../core/constants.js';
import { MODE_SPECS } from '../core/modes.js';
import { SpsError } from '../util/errors.js';
import { cellName, groupSettings, type CellStats } from './group.js';
import { compareModes, compareObjectives, compareTasks, compareValues } from './order.js';
import { byValue, valueAt } from './run-config.js';
import { mean, sampleStd } from './stats.js';
import type { StoredRun } from './store.js';

/**
 * `sps table --by KEYS`: a row per setting of each (task, objective, mode), labelled by its values
 * of the swept keys, with the final validation metric beside the test metric (what `sps select`
 * chooses on), online's final α, and how many seeds came out identical to joint's.
 */

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

/** A mode whose entry searches α after each epoch (online): its final α is a result worth a column. */
const searchesAlpha = (mode: string): boolean => Object.values(MODE_SPECS).some((spec) => spec.name === mode && spec.afterEpoch !== undefined);

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
  // Runs without the metric, by experiment/task: a task none of whose runs log it (OCR's runs asked
  // for val_f1) gets one note instead of one per cell.
  const misses: { task: string; all: boolean; logged: string[]; text: string }[] = [];
  const rows = groups.map(({ cell: counted, settings, kept }): ByRow => {
    const cell = apart.has(cellName({ ...counted, variant: '' })) ? counted : { ...counted, variant: '', variants: 1, flagged: counted.partial };
    const vals = kept.map((r) => validationOf(r, readEpochs));
    const primary = kept[0]?.final?.primary;
    const metric = valMetric ?? (primary && vals.some((v) => `val_${primary}` in v) ? `val_${primary}` : (Object.keys(vals[0] ?? {}).sort()[0] ?? null));
    const missing = metric === null ? kept : kept.filter((_, i) => !(metric in vals[i]));
    if (missing.length > 0) {
      misses.push({
        task: `${counted.experiment}/${counted.task}`,
        all: missing.length === kept.length,
        logged: vals.flatMap((v) => Object.keys(v)),
        text: `${cellName(cell)}: ${missing.length} run${missing.length > 1 ? 's have' : ' has'} no final validation metric${metric ? ` ${metric}` : ''} (${missing.map((r) => r.dir).join(', ')})`,
      });
    }
    const values = metric === null ? [] : vals.filter((v) => metric in v).map((v) => v[metric]);
    const alphas = searchesAlpha(counted.mode) ? kept.map((r) => r.final?.alpha).filter((a): a is number => typeof a === 'number' && Number.isFinite(a)) : [];
    const alpha = alphas.length > 0 ? { mean: mean(alphas), min: Math.min(...alphas), max: Math.max(...alphas), n: alphas.length } : null;
    return { cell, by: Object.fromEntries(keys.map((k) => [k, byValue(settings, k)])), val: seedStat(metric, values), runs: kept, alpha, sameAsJoint: null };
  });
  const cellsOf = (task: string) => groups.filter((g) => `${g.cell.experiment}/${g.cell.task}` === task).length;
  const silent = new Set<string>();
  for (const task of valMetric === undefined ? [] : new Set(misses.map((m) => m.task))) {
    const mine = misses.filter((m) => m.task === task);
    if (mine.length !== cellsOf(task) || !mine.every((m) => m.all)) continue;
    silent.add(task);
    const logged = [...new Set(mine.flatMap((m) => m.logged))].sort();
    warnings.push(`${task}: no run logs ${valMetric}${logged.length > 0 ? ` (they log ${logged.join(', ')})` : ''}; its ${mine.length} cells are left out`);
  }
  warnings.push(...misses.filter((m) => !silent.has(m.task)).map((m) => m.text));
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

