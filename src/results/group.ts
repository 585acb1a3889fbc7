import { canonicalJson } from '../config/cells.js';
import { configDiffs, settingsOf } from './run-config.js';
import { mean, sampleStd } from './stats.js';
import { damageMessage, type StoredRun } from './store.js';

/**
 * Runs into cells, behind every table: a cell is (experiment, task, objective, mode, settings).
 * Runs whose configs differ in a key that decides the result (the run id's config without the seed,
 * `settingsOf`) are never averaged together; each further setting of a (task, objective, mode) gets
 * a cell of its own, labelled by what differs. Its value is the mean over finished runs (run.json
 * done and a valid final.json), one per seed, of final.metrics[final.primary], with the sample
 * standard deviation (n − 1 denominator; undefined, shown "—", when n = 1).
 */

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

const SEP = '\u0000';

export function cellKey(experiment: string, task: string, objective: string, mode: string, variant = ''): string {
  return [experiment, task, objective, mode, variant].join(SEP);
}

export function emptyCell(experiment: string, task: string, objective: string, mode: string): CellStats {
  return {
    experiment, task, objective, mode, variant: '', variants: 1,
    metric: null, values: [], seeds: [], n: 0, runs: 0, planned: 0,
    mean: null, std: null, partial: false, backends: [], flagged: false, failed: 0, unfinished: 0, damaged: 0, configDiffers: [],
    paperMean: null, paperStd: null, diff: null,
  };
}

export function cellName(c: { experiment: string; task: string; objective: string; mode: string; variant: string }): string {
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
