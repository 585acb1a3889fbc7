import { canonicalJson } from '../config/cells.js';
import { groupSettings } from './group.js';
import { compareValues } from './order.js';
import { settingValue } from './run-config.js';
import { formatSwept } from './render.js';
import { listSweeps, type StoredRun } from './store.js';

/**
 * A study's settings: the runs of a results folder grouped by the values of the keys it swept, each
 * group labelled (`train.lr=0.01, model.dropout=0.5`). `sps report`, `sps plot` and the end of a sweep
 * draw and tabulate one setting at a time, so that runs of different settings are never pooled.
 *
 * A run whose mode does not read a key (joint does not read online's α grid) has no value for it and
 * belongs to every setting that agrees with it on the keys it does read: joint is then the reference
 * of each α grid, as it is in the sweep that planned it (config/cells.ts, `sweptHere`).
 */

export interface Setting {
  /** Each key's value; undefined where no run of the setting reads the key. */
  values: Record<string, unknown>;
  /** `key=value, key=value` over the keys with a value; `all runs` when no key has one. */
  label: string;
  /** The values alone (`0.01, 0.5`; `-` for a key without one), for a legend titled by the keys. */
  short: string;
  /** Every run that belongs to the setting (runs that read none of a key appear in several settings). */
  runs: StoredRun[];
}

/** Where the keys of a study come from: `--by`, the sweep.json plans, or the settings that differ between runs. */
export type KeysSource = 'by' | 'sweep.json' | 'settings';

/** The longest value shown in a label: a 15-value α grid would make every legend unreadable. */
const LABEL_VALUE_CHARS = 32;

/** `train.lr=0.01, data.noise=1`: the keys with a value in `values`, long values cut with `…`. */
export function settingLabel(keys: readonly string[], values: Record<string, unknown>): string {
  const shown = keys.filter((k) => values[k] !== undefined).map((k) => `${k}=${shortValue(values[k])}`);
  return shown.length > 0 ? shown.join(', ') : 'all runs';
}

function shortValue(v: unknown): string {
  const text = formatSwept(v);
  return text.length > LABEL_VALUE_CHARS ? `${text.slice(0, LABEL_VALUE_CHARS - 1)}…` : text;
}

/** A key path with any list index cut off (`scaling.alpha_grid[3]` is a change of `scaling.alpha_grid`). */
const keyOfPath = (path: string): string => path.replace(/\[.*$/, '');

/**
 * The keys a folder's runs were swept over: the swept keys of the sweep.json plans below `root`
 * (of the runs' experiments, in the order first planned), or else the config keys in which runs of
 * one (task, objective, mode) differ (a study written as blocks, before sweeps recorded their keys).
 * [] for a folder of one setting per cell, such as the paper's table.
 */
export function studyKeys(root: string, runs: readonly StoredRun[]): { keys: string[]; source: KeysSource } {
  const experiments = new Set(runs.map((r) => r.run.experiment));
  const fromPlans: string[] = [];
  for (const { sweep } of listSweeps(root).sweeps) {
    if (!experiments.has(sweep.experiment)) continue;
    for (const c of sweep.cells) for (const k of Object.keys(c.swept ?? {})) if (!fromPlans.includes(k)) fromPlans.push(k);
  }
  // A key planned for runs that are no longer there is no setting of these runs.
  const present = fromPlans.filter((k) => runs.some((r) => settingValue(r.config, k) !== undefined));
  if (present.length > 0) return { keys: present, source: 'sweep.json' };
  const differing = new Set(groupSettings(runs).groups.flatMap((g) => g.cell.configDiffers.map(keyOfPath)));
  return { keys: [...differing].sort(), source: 'settings' };
}

/** Do the defined values of `a` agree with `b` wherever `b` has a value too? */
function agrees(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.every((v, i) => v === undefined || b[i] === undefined || canonicalJson(v) === canonicalJson(b[i]));
}

/**
 * The runs grouped by their values of `keys`, in value order (the first key slowest). The settings
 * are the distinct combinations of values the runs have that no run with more keys refines; each
 * run joins every setting it agrees with on the keys it reads.
 */
export function groupBySetting(runs: readonly StoredRun[], keys: readonly string[]): Setting[] {
  const tuples = new Map<string, unknown[]>();
  const tupleOf = new Map<StoredRun, unknown[]>();
  for (const r of runs) {
    const t = keys.map((k) => settingValue(r.config, k));
    tupleOf.set(r, t);
    tuples.set(canonicalJson(t.map((v) => v ?? null)), t);
  }
  const defined = (t: unknown[]) => t.filter((v) => v !== undefined).length;
  const all = [...tuples.values()];
  // A combination that a more specific one refines (joint's [grid unset] under online's grids) is no setting of its own.
  const settings = all.filter((t) => !all.some((u) => u !== t && defined(u) > defined(t) && agrees(t, u)));
  settings.sort((a, b) => keys.reduce((d, _k, i) => d || compareValues(a[i], b[i]), 0));
  const labels = new Set<string>();
  return settings.map((t, i) => {
    const values = Object.fromEntries(keys.map((k, j) => [k, t[j]]));
    let label = settingLabel(keys, values);
    let short = keys.length === 0 ? label : keys.map((k) => (values[k] === undefined ? '-' : shortValue(values[k]))).join(', ');
    if (labels.has(label)) [label, short] = [`${label} #${i + 1}`, `${short} #${i + 1}`];
    labels.add(label);
    return { values, label, short, runs: runs.filter((r) => agrees(tupleOf.get(r)!, t)) };
  });
}
