import { MODES } from '../../core/constants.js';
import { findModeSpec } from '../../core/modes.js';
import type { CellStats } from '../group.js';
import { compareModes, compareObjectives, compareTasks } from '../order.js';
import { mean } from '../stats.js';
import type { ResultsTable } from '../table.js';
import { readMetrics, type StoredRun } from '../store.js';
import type { EpochRecord } from '../../core/records.js';
import { metricName } from '../render.js';
import type { Setting } from '../settings.js';
import type { TopLevelSpec } from './vega.js';

/**
 * The report's figures as Vega-Lite specs (rendered to SVG by vega.ts). Each figure has an id
 * (file name), a title, axis titles with units and a one-line caption saying what to look at.
 */

export interface FigureSpec {
  id: string;
  /** Which kind of figure (the browser test checks that each kind has marks). */
  kind: 'validation' | 'norm-ratio' | 'online-alpha' | 'cells' | 'setting-curves' | 'setting-cells' | 'regime-metric' | 'regime-diff';
  task: string;
  objective?: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

/**
 * The report's figures in groups a reader can keep or leave out (`sps report --figures`): a study with
 * many settings draws a norm-ratio and an α figure per setting, which a committed report may not want.
 */
export const FIGURE_GROUPS = {
  cells: ['cells', 'setting-cells'],
  curves: ['validation', 'setting-curves'],
  norms: ['norm-ratio'],
  alpha: ['online-alpha'],
  regime: ['regime-metric', 'regime-diff'],
  /** The example panels of examples.ts (images of predictions, not figures). */
  examples: ['example panels'],
} as const satisfies Record<string, readonly string[]>;
export type FigureGroup = keyof typeof FIGURE_GROUPS;

/** Whether a figure of `kind` belongs to one of `groups`. */
export const inGroups = (kind: FigureSpec['kind'], groups: readonly FigureGroup[]): boolean => groups.some((g) => (FIGURE_GROUPS[g] as readonly string[]).includes(kind));

/** One finished run with its per-epoch log. */
export interface RunCurves {
  experiment: string;
  task: string;
  objective: string;
  mode: string;
  seed: number;
  primary: string;
  epochs: EpochRecord[];
  dir: string;
}

export function modeScale(modes: string[]): { domain: string[]; range: string[] } {
  const domain = [...modes].sort(compareModes);
  // A mode no entry knows (a run folder from another version) takes a colour no entry uses.
  return { domain, range: domain.map((m, i) => findModeSpec(m)?.color ?? ['#8c564b', '#e377c2', '#7f7f7f'][i % 3]) };
}

export function metricLabel(primary: string, task?: string): string {
  return `${metricName(task, primary)} (%)`;
}

/** Finished runs (run.json done and final.json present) with their metrics.jsonl. */
export function loadCurves(runs: readonly StoredRun[]): RunCurves[] {
  return runs
    .filter((r) => r.run.status === 'done' && r.final)
    .map((r) => ({
      experiment: r.run.experiment,
      task: r.run.task,
      objective: r.run.objective,
      mode: r.run.mode,
      seed: r.run.seed,
      primary: r.final!.primary,
      epochs: readMetrics(r.dir),
      dir: r.dir,
    }))
    .sort((a, b) => compareTasks(a.task, b.task) || compareObjectives(a.objective, b.objective) || compareModes(a.mode, b.mode) || a.seed - b.seed);
}

/** Groups of curves by (task, objective), in the paper's order. */
export function byTaskObjective(curves: readonly RunCurves[]): { task: string; objective: string; runs: RunCurves[] }[] {
  const out = new Map<string, { task: string; objective: string; runs: RunCurves[] }>();
  for (const c of curves) {
    const key = `${c.task}\u0000${c.objective}`;
    if (!out.has(key)) out.set(key, { task: c.task, objective: c.objective, runs: [] });
    out.get(key)!.runs.push(c);
  }
  return [...out.values()];
}

export function slug(...parts: string[]): string {
  return parts.join('-').replace(/[^a-zA-Z0-9._-]+/g, '_');
}

const WIDTH = 380;
const HEIGHT = 220;

/** Per (mode, epoch): the mean, min and max over seeds of `value(epoch record)`. */
function epochStats(runs: readonly RunCurves[], value: (e: EpochRecord) => number | undefined): { mode: string; epoch: number; mean: number; min: number; max: number; n: number }[] {
  const acc = new Map<string, { mode: string; epoch: number; xs: number[] }>();
  for (const r of runs) {
    for (const e of r.epochs) {
      const v = value(e);
      if (v === undefined || !Number.isFinite(v)) continue;
      const key = `${r.mode}\u0000${e.epoch}`;
      if (!acc.has(key)) acc.set(key, { mode: r.mode, epoch: e.epoch, xs: [] });
      acc.get(key)!.xs.push(v);
    }
  }
  return [...acc.values()].map(({ mode, epoch, xs }) => ({ mode, epoch, mean: mean(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length }));
}

/**
 * Epochs after which a run changes phase, with the next phase's name: from the first run whose
 * schedule has several phases (stage's, the only such mode today; the lowest-seed run).
 */
export function phaseBoundaries(runs: readonly RunCurves[]): { epoch: number; phase: string }[] {
  const phased = runs.find((r) => r.epochs.some((e, i) => i > 0 && e.phase !== r.epochs[i - 1].phase));
  if (!phased) return [];
  const out: { epoch: number; phase: string }[] = [];
  phased.epochs.forEach((e, i) => {
    if (i > 0 && e.phase !== phased.epochs[i - 1].phase) out.push({ epoch: e.epoch - 0.5, phase: e.phase });
  });
  return out;
}

/** The caption goes below the figure in index.html and report.md; the SVG keeps only the title (a long subtitle would widen it). */
function title(text: string, _caption: string): { text: string; anchor: 'start' } {
  return { text, anchor: 'start' };
}

export function validationFigure(task: string, objective: string, runs: readonly RunCurves[]): FigureSpec | null {
  const primary = runs[0]?.primary ?? 'metric';
  const key = `val_${primary}`;
  const stats = epochStats(runs, (e) => e.metrics?.[key]);
  if (stats.length === 0) return null;
  const modes = modeScale([...new Set(stats.map((s) => s.mode))]);
  const bounds = phaseBoundaries(runs);
  const t = `${task} / ${objective}: validation ${metricLabel(primary, task)} per epoch`;
  const caption = 'Mean over seeds (line) and min–max (band); dashed rules: stage mode\'s phase changes. Look at where joint falls behind stage and whether the scaled modes follow stage.';
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'epoch (count)', scale: { nice: false } };
  const color = { field: 'mode', type: 'nominal' as const, title: 'mode', scale: modes };
  const layer: unknown[] = [
    { mark: { type: 'area', opacity: 0.15 }, encoding: { x, y: { field: 'min', type: 'quantitative', title: `validation ${metricLabel(primary, task)}`, scale: { zero: false } }, y2: { field: 'max' }, color } },
    { mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color: { ...color, legend: { symbolType: 'stroke', symbolStrokeWidth: 2 } } } },
  ];
  if (bounds.length > 0) {
    layer.push(
      { data: { values: bounds }, mark: { type: 'rule', strokeDash: [4, 3], color: '#555' }, encoding: { x: { field: 'epoch', type: 'quantitative' } } },
      { data: { values: bounds }, mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, y: 4, fontSize: 9, color: '#555' }, encoding: { x: { field: 'epoch', type: 'quantitative' }, text: { field: 'phase' } } },
    );
  }
  return {
    id: slug('validation', task, objective), kind: 'validation', task, objective, title: t, caption,
    spec: { title: title(t, caption), width: WIDTH, height: HEIGHT, data: { values: stats }, layer } as TopLevelSpec,
  };
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

export const RATIO_KINDS = { norm_ratio: '‖U‖/‖W‖ (Frobenius)', rms_ratio: 'rms(U)/rms(W)' } as const;

export function normRatioFigure(task: string, objective: string, runs: readonly RunCurves[]): FigureSpec | null {
  const values: { mode: string; epoch: number; ratio: string; value: number }[] = [];
  for (const [key, label] of Object.entries(RATIO_KINDS)) {
    // Geometric mean over seeds: the ratios span orders of magnitude.
    for (const s of epochStats(runs, (e) => { const v = num(e.extra?.[key]); return v === undefined ? undefined : Math.log10(v); })) {
      values.push({ mode: s.mode, epoch: s.epoch, ratio: label, value: 10 ** s.mean });
    }
  }
  if (values.length === 0) return null;
  const modes = modeScale([...new Set(values.map((v) => v.mode))]);
  const kinds = [...new Set(values.map((v) => v.ratio))];
  const t = `${task} / ${objective}: ratio of unary to pairwise potentials per epoch`;
  const caption = `Geometric mean over seeds, log scale${kinds.length > 1 ? '; left the raw Frobenius-norm ratio, right the rms ratio' : ''}. Look at how far joint's ratio runs away from stage's and where scaling keeps it.`;
  const enc = {
    x: { field: 'epoch', type: 'quantitative', title: 'epoch (count)', scale: { nice: false } },
    y: { field: 'value', type: 'quantitative', title: 'ratio (unitless, log scale)', scale: { type: 'log' } },
    color: { field: 'mode', type: 'nominal', title: 'mode', scale: modes },
  };
  const spec = kinds.length > 1
    ? { title: title(t, caption), data: { values }, facet: { column: { field: 'ratio', type: 'nominal', title: null, sort: kinds } }, spec: { width: WIDTH * 0.75, height: HEIGHT, mark: { type: 'line', strokeWidth: 1.5 }, encoding: enc }, resolve: { scale: { y: 'independent' } } }
    : { title: title(t, caption), width: WIDTH, height: HEIGHT, data: { values }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: enc };
  return { id: slug('norm-ratio', task, objective), kind: 'norm-ratio', task, objective, title: t, caption, spec: spec as TopLevelSpec };
}

/** Epochs whose L_α curve is drawn: the first, the middle and the last logged. */
export function chosenEpochs(epochs: readonly number[]): number[] {
  if (epochs.length === 0) return [];
  const sorted = [...epochs].sort((a, b) => a - b);
  return [...new Set([sorted[0], sorted[Math.floor((sorted.length - 1) / 2)], sorted[sorted.length - 1]])];
}

export function onlineAlphaFigure(task: string, objective: string, runs: readonly RunCurves[]): FigureSpec | null {
  // The first mode in column order whose entry searches α after every epoch (online's Algorithm 1).
  const searching = MODES.find((m) => findModeSpec(m)?.afterEpoch && runs.some((r) => r.mode === m));
  const online = runs.filter((r) => r.mode === searching);
  const alphas = online.flatMap((r) => r.epochs.filter((e) => num(e.alpha) !== undefined).map((e) => ({ seed: `seed ${r.seed}`, epoch: e.epoch, alpha: e.alpha as number })));
  const first = online.find((r) => r.epochs.some((e) => e.alpha_curve && e.alpha_curve.length > 0));
  if (alphas.length === 0 || !first) return null;
  const withCurve = first.epochs.filter((e) => e.alpha_curve && e.alpha_curve.length > 0);
  const chosen = new Set(chosenEpochs(withCurve.map((e) => e.epoch)));
  const curves = withCurve.filter((e) => chosen.has(e.epoch)).flatMap((e) => e.alpha_curve!.filter((p) => num(p.alpha) !== undefined && Number.isFinite(p.loss)).map((p) => ({ epoch: `epoch ${e.epoch}`, alpha: p.alpha, loss: p.loss, chosen: p.alpha === e.alpha })));
  const t = `${task} / ${objective}: ${searching} scaling's α`;
  const caption = `Left: the α chosen after each epoch, per seed. Right: the selection loss L_α against α at epochs ${[...chosen].join(', ')} of seed ${first.seed} (filled: the α chosen). Look at whether α leaves 1 and whether the curve's minimum sits at a grid edge.`;
  const spec = {
    title: title(t, caption),
    hconcat: [
      {
        width: WIDTH * 0.7, height: HEIGHT, data: { values: alphas },
        mark: { type: 'line', point: true, strokeWidth: 1.2 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch (count)', scale: { nice: false } },
          y: { field: 'alpha', type: 'quantitative', title: 'chosen α (multiplier, log scale)', scale: { type: 'log' } },
          color: { field: 'seed', type: 'nominal', title: 'online run' },
        },
      },
      {
        width: WIDTH * 0.7, height: HEIGHT, data: { values: curves },
        layer: [
          { mark: { type: 'line', strokeWidth: 1.2, point: true }, encoding: { x: { field: 'alpha', type: 'quantitative', title: 'α (multiplier, log scale)', scale: { type: 'log' } }, y: { field: 'loss', type: 'quantitative', title: 'selection loss L_α (training objective)', scale: { zero: false } }, color: { field: 'epoch', type: 'nominal', title: 'L_α curve', sort: null } } },
          { transform: [{ filter: 'datum.chosen' }], mark: { type: 'point', size: 40, filled: true, opacity: 1 }, encoding: { x: { field: 'alpha', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative' }, color: { field: 'epoch', type: 'nominal', sort: null, legend: null } } },
        ],
      },
    ],
    resolve: { scale: { color: 'independent' } },
  };
  return { id: slug('online-alpha', task, objective), kind: 'online-alpha', task, objective, title: t, caption, spec: spec as unknown as TopLevelSpec };
}

/** Per task: every cell's seeds, our mean ± std and the paper's mean ± std (band). */
export function cellsFigure(task: string, table: ResultsTable): FigureSpec | null {
  const cells: CellStats[] = table.cells.filter((c) => c.task === task);
  const seeds = cells.flatMap((c) => c.values.map((v, i) => ({ objective: c.objective, mode: c.mode, kind: 'seed', value: v, seed: c.seeds[i] })));
  if (seeds.length === 0) return null;
  const ours = cells.filter((c) => c.mean !== null).map((c) => ({ objective: c.objective, mode: c.mode, kind: 'ours', value: c.mean!, lo: c.mean! - (c.std ?? 0), hi: c.mean! + (c.std ?? 0) }));
  const paper = cells.filter((c) => c.paperMean !== null).map((c) => ({ objective: c.objective, mode: c.mode, kind: 'paper', value: c.paperMean!, lo: c.paperMean! - (c.paperStd ?? 0), hi: c.paperMean! + (c.paperStd ?? 0) }));
  const metric = cells.find((c) => c.metric !== null)?.metric ?? 'metric';
  const modeOrder = [...new Set([...MODES, ...cells.map((c) => c.mode)])].filter((m) => cells.some((c) => c.mode === m));
  const objectives = [...new Set(cells.map((c) => c.objective))].sort(compareObjectives);
  const x = { field: 'mode', type: 'nominal', title: 'training mode', sort: modeOrder, axis: { labelAngle: -40 } };
  const y = { field: 'value', type: 'quantitative', title: `test ${metricLabel(metric, task)}`, scale: { zero: false } };
  const only = (kind: string) => ({ filter: `datum.kind === '${kind}'` });
  const layer: unknown[] = [];
  if (paper.length > 0) {
    layer.push(
      { transform: [only('paper')], mark: { type: 'bar', color: '#999', opacity: 0.3, width: 16 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      { transform: [only('paper')], mark: { type: 'tick', color: '#666', thickness: 1 }, encoding: { x, y } },
    );
  }
  layer.push(
    { transform: [only('ours')], mark: { type: 'rule', color: '#000', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    { transform: [only('ours')], mark: { type: 'tick', color: '#000', thickness: 2, size: 14 }, encoding: { x, y } },
    { transform: [only('seed')], mark: { type: 'circle', size: 22, opacity: 0.75 }, encoding: { x, xOffset: { field: 'seed', type: 'nominal' }, y, color: { field: 'mode', type: 'nominal', scale: modeScale(modeOrder), legend: null } } },
  );
  const t = `${task}: test ${metricLabel(metric, task)} of every cell`;
  const caption = `Dots: our seeds; black: our mean ± std${paper.length > 0 ? '; grey band: the paper\'s mean ± std' : ''}. Look at where the black bars sit relative to the grey bands and how the modes rank within each objective.`;
  const spec = {
    title: title(t, caption),
    data: { values: [...seeds, ...ours, ...paper] },
    facet: { column: { field: 'objective', type: 'nominal', title: null, sort: objectives } },
    spec: { width: 150, height: HEIGHT, layer },
    resolve: { scale: { y: 'independent' } },
  };
  return { id: slug('cells', task), kind: 'cells', task, title: t, caption, spec: spec as unknown as TopLevelSpec };
}

/** The settings' colours: a categorical scheme, in the settings' order. */
function settingScale(labels: readonly string[]): { domain: string[]; scheme: string } {
  return { domain: [...labels], scheme: labels.length <= 10 ? 'tableau10' : 'category20' };
}

/** The runs of a setting with their per-epoch logs (each run read once, however many settings share it). */
export function settingCurves(settings: readonly Setting[]): { label: string; runs: RunCurves[] }[] {
  const all = new Map(loadCurves(settings.flatMap((s) => s.runs)).map((c) => [c.dir, c]));
  return settings.map((s) => ({ label: s.short, runs: s.runs.flatMap((r) => all.get(r.dir) ?? []) }));
}

/** Every per-epoch metric the runs logged (`val_accuracy`, `train_accuracy`, ...), sorted. */
export function loggedMetrics(curves: readonly { runs: readonly RunCurves[] }[]): string[] {
  return [...new Set(curves.flatMap((s) => s.runs.flatMap((r) => r.epochs.flatMap((e) => Object.keys(e.metrics ?? {})))))].sort();
}

/**
 * Each setting's curve of one per-epoch metric: a thin line per seed and a thick one for the mean over
 * seeds, coloured by setting, a panel per mode (and a row of panels per task / objective when the
 * runs have several), so that runs of different settings are never pooled into one band.
 */
export function settingCurvesFigure(o: { id: string; title: string; metric: string; keys: readonly string[]; settings: readonly { label: string; runs: readonly RunCurves[] }[] }): FigureSpec | null {
  const seeds: { setting: string; mode: string; panel: string; seed: string; epoch: number; value: number }[] = [];
  for (const s of o.settings) {
    for (const r of s.runs) {
      for (const e of r.epochs) {
        const v = e.metrics?.[o.metric];
        if (typeof v === 'number' && Number.isFinite(v)) seeds.push({ setting: s.label, mode: r.mode, panel: `${r.task} / ${r.objective}`, seed: `seed ${r.seed}`, epoch: e.epoch, value: v });
      }
    }
  }
  if (seeds.length === 0) return null;
  const acc = new Map<string, { setting: string; mode: string; panel: string; epoch: number; xs: number[] }>();
  for (const p of seeds) {
    const k = [p.setting, p.mode, p.panel, p.epoch].join('\u0000');
    if (!acc.has(k)) acc.set(k, { setting: p.setting, mode: p.mode, panel: p.panel, epoch: p.epoch, xs: [] });
    acc.get(k)!.xs.push(p.value);
  }
  const means = [...acc.values()].map(({ xs, ...rest }) => ({ ...rest, value: mean(xs), n: xs.length }));
  const task = o.settings.flatMap((s) => s.runs)[0]?.task ?? '';
  const tasks = new Set(o.settings.flatMap((s) => s.runs.map((r) => r.task)));
  const name = tasks.size === 1 ? `${metricName(task, o.metric)}${o.metric.startsWith('val_') ? ' (validation)' : ''}` : o.metric;
  const labels = o.settings.filter((s) => seeds.some((p) => p.setting === s.label)).map((s) => s.label);
  const modes = [...new Set(seeds.map((p) => p.mode))].sort(compareModes);
  const panels = [...new Set(seeds.map((p) => p.panel))];
  const x = { field: 'epoch', type: 'quantitative', title: 'epoch (count)', scale: { nice: false }, axis: { tickMinStep: 1, format: 'd' } };
  const y = { field: 'value', type: 'quantitative', title: `${name} (%)`, scale: { zero: false } };
  const color = { field: 'setting', type: 'nominal', title: o.keys.length > 0 ? o.keys.join(', ') : 'setting', scale: settingScale(labels), legend: { orient: 'bottom', direction: 'vertical', labelLimit: 560, titleLimit: 700, symbolOpacity: 1 } };
  const spec = {
    title: title(o.title, ''),
    data: { values: [...seeds.map((p) => ({ ...p, kind: 'seed' })), ...means.map((m) => ({ ...m, kind: 'mean' }))] },
    facet: { column: { field: 'mode', type: 'nominal', title: null, sort: modes }, ...(panels.length > 1 ? { row: { field: 'panel', type: 'nominal', title: null, sort: panels } } : {}) },
    spec: {
      width: 220, height: 180,
      layer: [
        { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: 'line', strokeWidth: 0.8, opacity: 0.45 }, encoding: { x, y, color, detail: { field: 'seed', type: 'nominal' } } },
        { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'line', strokeWidth: 2.2, point: { size: 18 } }, encoding: { x, y, color } },
      ],
    },
    resolve: { scale: { y: 'shared' } },
  };
  const caption = `${name} per epoch, one colour per setting (${labels.length}): thick line the mean over seeds, thin lines each seed; one panel per training mode${panels.length > 1 ? ' and a row per task / objective' : ''}. Look at whether the settings separate by more than their seeds do.`;
  return { id: o.id, kind: 'setting-curves', task, title: o.title, caption, spec: spec as unknown as TopLevelSpec };
}

/** Per task: every cell's seeds, mean ± std, one colour per setting, side by side within each mode. */
export function settingCellsFigure(task: string, keys: readonly string[], settings: readonly { label: string; table: ResultsTable }[]): FigureSpec | null {
  const rows = settings.flatMap((s) => s.table.cells.filter((c) => c.task === task && c.n > 0).map((c) => ({ s, c })));
  if (rows.length === 0) return null;
  const seeds = rows.flatMap(({ s, c }) => c.values.map((v, i) => ({ setting: s.label, objective: c.objective, mode: c.mode, kind: 'seed', value: v, seed: c.seeds[i] })));
  const ours = rows.map(({ s, c }) => ({ setting: s.label, objective: c.objective, mode: c.mode, kind: 'ours', value: c.mean!, lo: c.mean! - (c.std ?? 0), hi: c.mean! + (c.std ?? 0) }));
  const metric = rows.find(({ c }) => c.metric !== null)?.c.metric ?? 'metric';
  const labels = settings.map((s) => s.label).filter((l) => rows.some((r) => r.s.label === l));
  const modeOrder = [...new Set([...MODES, ...rows.map((r) => r.c.mode)])].filter((m) => rows.some((r) => r.c.mode === m));
  const objectives = [...new Set(rows.map((r) => r.c.objective))].sort(compareObjectives);
  const x = { field: 'mode', type: 'nominal', title: 'training mode', sort: modeOrder, axis: { labelAngle: -40 } };
  const xOffset = { field: 'setting', type: 'nominal', sort: labels };
  const y = { field: 'value', type: 'quantitative', title: `test ${metricLabel(metric, task)}`, scale: { zero: false } };
  const color = { field: 'setting', type: 'nominal', title: keys.join(', '), scale: settingScale(labels), legend: { orient: 'bottom', direction: 'vertical', labelLimit: 560, titleLimit: 700, symbolOpacity: 1 } };
  const only = (kind: string) => ({ filter: `datum.kind === '${kind}'` });
  const t = `${task}: test ${metricLabel(metric, task)} of every cell, by ${keys.join(', ')}`;
  const spec = {
    title: title(t, ''),
    data: { values: [...seeds, ...ours] },
    facet: { column: { field: 'objective', type: 'nominal', title: null, sort: objectives } },
    spec: {
      width: Math.max(150, 18 * modeOrder.length * labels.length), height: HEIGHT,
      layer: [
        { transform: [only('ours')], mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
        { transform: [only('ours')], mark: { type: 'tick', thickness: 2, size: 10 }, encoding: { x, xOffset, y, color } },
        { transform: [only('seed')], mark: { type: 'circle', size: 18, opacity: 0.6 }, encoding: { x, xOffset, y, color } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
  const caption = `One colour per setting, side by side within each mode: dots our seeds, tick and bar our mean ± std. Look at how each mode moves with the setting, and whether the modes keep their order across settings.`;
  return { id: slug('setting-cells', task), kind: 'setting-cells', task, title: t, caption, spec: spec as unknown as TopLevelSpec };
}
