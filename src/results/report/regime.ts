import { canonicalJson } from '../../config/cells.js';
import { buildByTable, type ByRow } from '../by-table.js';
import type { CellStats } from '../group.js';
import { compareObjectives, compareTasks, compareValues } from '../order.js';
import { readMetrics, type StoredRun } from '../store.js';
import { SpsError } from '../../util/errors.js';
import { CLAIMS, claimsOfRow, type ClaimRow } from './claims.js';
import { escapeHtml, escapeMarkdown, formatInterval } from './claims-render.js';
import { fmtDiff } from '../render.js';
import { metricLabel, modeScale, slug, type FigureSpec } from './figures.js';
import type { TopLevelSpec } from './vega.js';

/**
 * The regime view of a study that sweeps the knobs setting the unary/pairwise balance (study 8,
 * docs/report.md "The regime view"): for every (task, objective) and every setting of the knobs, the
 * paper's four claims (claims.ts: C1 stage − joint, C2–C4 scaling mode − joint with the check against
 * stage, 95 % Welch intervals), so that one sees where along a knob joint training fails and which
 * scaling mode recovers it.
 */

/** One setting of the knobs in one (experiment, task, objective): its cells by mode and the claims on them. */
export interface RegimePoint {
  experiment: string;
  task: string;
  objective: string;
  /** The knobs' values of this setting (a knob a cell's mode does not read is shared across its values). */
  values: Record<string, unknown>;
  cells: Record<string, CellStats | undefined>;
  claims: ClaimRow[];
}

export interface RegimeReport {
  knobs: string[];
  points: RegimePoint[];
  warnings: string[];
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v ?? null));

/** `model.dropout=0.5, model.unary_scale=1` (a knob the setting's cells do not read is left out). */
export function settingLabel(knobs: readonly string[], values: Record<string, unknown>): string {
  return knobs
    .filter((k) => values[k] !== undefined)
    .map((k) => `${k}=${text(values[k])}`)
    .join(', ');
}

const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

/**
 * The settings of `knobs` among some rows' values: every distinct combination, except one that another
 * refines (fixes the same values and more knobs). A knob a cell does not read is undefined in its
 * values: joint beside online's grid, or ssvm's maximiser without dropout. Such a cell serves every
 * finer setting it agrees with; it is a setting of its own only where nothing refines it (ssvm without
 * dropout, the other objectives everywhere).
 */
function settingsOf(knobs: readonly string[], all: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const distinct = new Map<string, Record<string, unknown>>();
  for (const v of all) distinct.set(canonicalJson(knobs.map((k) => v[k] ?? null)), v);
  const refines = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    knobs.every((k) => b[k] === undefined || same(a[k], b[k])) && knobs.some((k) => b[k] === undefined && a[k] !== undefined);
  return [...distinct.values()].filter((b) => ![...distinct.values()].some((a) => refines(a, b)));
}

/** Whether `values` is served by a cell with `cell`'s knob values (undefined: the cell does not read the knob). */
const serves = (knobs: readonly string[], cell: Record<string, unknown>, values: Record<string, unknown>) =>
  knobs.every((k) => cell[k] === undefined || same(cell[k], values[k]));

/**
 * The claims at every setting of `knobs`. A row of a mode that does not read a knob (joint beside
 * online's grid) serves every value of that knob; two rows of one mode at one setting (they differ in
 * a key that is not a knob) are refused, since their claims would mix settings.
 */
export function buildRegime(runs: readonly StoredRun[], knobs: readonly string[]): RegimeReport {
  const table = buildByTable(runs, knobs, readMetrics);
  const groups = new Map<string, ByRow[]>();
  for (const r of table.rows) {
    const key = canonicalJson([r.cell.experiment, r.cell.task, r.cell.objective]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const points: RegimePoint[] = [];
  const warnings = [...table.warnings];
  for (const rows of groups.values()) {
    const { experiment, task, objective } = rows[0].cell;
    const settings = settingsOf(
      knobs,
      rows.map((r) => Object.fromEntries(knobs.map((k) => [k, r.by[k]]))),
    );
    for (const values of settings) {
      const matching = rows.filter((r) => serves(knobs, r.by, values));
      const cells: Record<string, CellStats | undefined> = {};
      for (const r of matching) {
        if (cells[r.cell.mode]) {
          throw new SpsError(
            `${experiment}/${task}/${objective}/${r.cell.mode} at ${settingLabel(knobs, values)}: several settings (they differ in ${r.cell.configDiffers.join(', ') || 'other keys'}); add the differing key to the knobs (--by)`,
          );
        }
        cells[r.cell.mode] = r.cell;
      }
      const claims = claimsOfRow({ experiment, task, objective, variant: '', label: task, cells });
      points.push({ experiment, task, objective, values, cells, claims });
    }
  }
  points.sort(
    (a, b) =>
      compareTasks(a.task, b.task) ||
      (a.experiment < b.experiment ? -1 : a.experiment > b.experiment ? 1 : 0) ||
      compareObjectives(a.objective, b.objective) ||
      knobs.reduce((d, k) => d || compareValues(a.values[k], b.values[k]), 0),
  );
  return { knobs: [...knobs], points, warnings };
}

/** The knob on the x axis: the first with more than one value; the others label the panels. */
function axisKnob(knobs: readonly string[], points: readonly RegimePoint[]): string {
  return knobs.find((k) => new Set(points.map((p) => canonicalJson(p.values[k]))).size > 1) ?? knobs[0];
}

const HEIGHT = 170;
const WIDTH = 150;

/**
 * The two regime figures of one (experiment, task, objective): the test metric of every mode along the
 * x knob (seeds as dots, the mean as a line), a panel per setting of the other knobs; and the
 * differences stage − joint and scaling mode − joint with their 95 % Welch intervals (C1–C4).
 */
export function regimeFigures(report: RegimeReport, experiment: string, task: string, objective: string): FigureSpec[] {
  const points = report.points.filter((p) => p.experiment === experiment && p.task === task && p.objective === objective);
  if (points.length === 0) return [];
  const x = axisKnob(report.knobs, points);
  const others = report.knobs.filter((k) => k !== x);
  // One panel per setting of the other knobs; a point that does not read one of them (ssvm's maximiser
  // without dropout) is drawn in every panel it agrees with.
  const panelValues = settingsOf(
    others,
    points.map((p) => p.values),
  );
  const label = (v: Record<string, unknown>) => settingLabel(others, v) || 'all runs';
  const panelsOf = (p: RegimePoint) => panelValues.filter((v) => serves(others, p.values, v)).map(label);
  const xOrder = [...new Set(points.map((p) => p.values[x]))].sort(compareValues).map(text);
  const panels = [...new Set(panelValues.map(label))];
  const metric = points.flatMap((p) => Object.values(p.cells)).find((c) => c?.metric)?.metric ?? 'metric';
  const modes = [...new Set(points.flatMap((p) => Object.keys(p.cells)))];
  const seeds = points.flatMap((p) =>
    panelsOf(p).flatMap((panel) =>
      Object.values(p.cells).flatMap((c) => (c ? c.values.map((value, i) => ({ kind: 'seed', x: text(p.values[x]), panel, mode: c.mode, seed: c.seeds[i], value })) : [])),
    ),
  );
  const means = points.flatMap((p) =>
    panelsOf(p).flatMap((panel) => Object.values(p.cells).flatMap((c) => (c && c.mean !== null ? [{ kind: 'mean', x: text(p.values[x]), panel, mode: c.mode, value: c.mean }] : []))),
  );
  const xEnc = { field: 'x', type: 'ordinal', title: x, sort: xOrder };
  // A panel's label (`a=1, b=2`) on one line per knob: on one line it runs into its neighbours'.
  const facet = { column: { field: 'panel', type: 'nominal', title: others.join(', ') || null, sort: panels, header: { labelExpr: "split(datum.label, ', ')" } } };
  // The layers share this colour scale, and so one legend: a layer with legend: null hides it for all.
  const color = { field: 'mode', type: 'nominal', title: 'mode', scale: modeScale(modes) };
  const where = `${task} / ${objective}${experiment ? ` (${experiment})` : ''}`;
  const t1 = `${where}: test ${metricLabel(metric)} along ${x}`;
  const c1 = `Dots: seeds; lines: the mean of each mode. Look for the settings where joint (red) falls below stage (blue), and whether the scaling modes follow stage there.`;
  const metricFig: FigureSpec = {
    id: slug('regime', experiment, task, objective),
    kind: 'regime-metric',
    task,
    objective,
    title: t1,
    caption: c1,
    spec: {
      title: { text: t1, anchor: 'start' },
      data: { values: [...seeds, ...means] },
      facet,
      spec: {
        width: WIDTH,
        height: HEIGHT,
        layer: [
          { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x: xEnc, y: { field: 'value', type: 'quantitative', title: `test ${metricLabel(metric)}`, scale: { zero: false } }, color } },
          { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: 'circle', size: 20, opacity: 0.7 }, encoding: { x: xEnc, y: { field: 'value', type: 'quantitative' }, color } },
        ],
      },
    } as unknown as TopLevelSpec,
  };
  // A difference without an interval (fewer than 2 seeds) is drawn as its point alone.
  const diffs = points.flatMap((p) =>
    panelsOf(p).flatMap((panel) =>
      p.claims.flatMap((c) =>
        c.ours
          ? [{ x: text(p.values[x]), panel, mode: c.mode, comparison: `${c.mode} − joint`, claim: c.claim, diff: c.ours.diff, lo: c.ours.lo ?? c.ours.diff, hi: c.ours.hi ?? c.ours.diff, verdict: c.verdict }]
          : [],
      ),
    ),
  );
  const out = [metricFig];
  if (diffs.length > 0) {
    const t2 = `${where}: each mode − joint along ${x}, with 95 % intervals`;
    const c2 = `Stage − joint above 0 means joint training fails there (claim C1); a scaling mode above 0 recovers part of it (C2–C4). Bars: 95 % Welch intervals over seeds (a point alone: fewer than 2 seeds), cut at ±100 points.`;
    const diffModes = [...new Set(diffs.map((d) => d.mode))];
    // Metrics are percentages, so no difference lies beyond ±100; with 2 seeds an interval can (t₀.₉₇₅ at
    // 1 degree of freedom is 12.7), and the axis would squash every point to a line.
    const domain = [Math.max(-100, Math.min(0, ...diffs.map((d) => d.lo))), Math.min(100, Math.max(0, ...diffs.map((d) => d.hi)))];
    const xOffset = { field: 'mode', type: 'nominal', sort: CLAIMS.map((c) => c.mode) };
    const diffColor = { ...color, scale: modeScale(diffModes) };
    out.push({
      id: slug('regime-diff', experiment, task, objective),
      kind: 'regime-diff',
      task,
      objective,
      title: t2,
      caption: c2,
      spec: {
        title: { text: t2, anchor: 'start' },
        data: { values: diffs },
        facet,
        spec: {
          width: WIDTH,
          height: HEIGHT,
          layer: [
            { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#555', strokeDash: [4, 3] }, encoding: { y: { field: 'zero', type: 'quantitative' } } },
            { mark: { type: 'rule', strokeWidth: 1.5, clip: true }, encoding: { x: xEnc, xOffset, y: { field: 'lo', type: 'quantitative', title: 'mode − joint (points)', scale: { domain } }, y2: { field: 'hi' }, color: diffColor } },
            { mark: { type: 'point', filled: true, size: 30, clip: true }, encoding: { x: xEnc, xOffset, y: { field: 'diff', type: 'quantitative' }, color: diffColor } },
          ],
        },
      } as unknown as TopLevelSpec,
    });
  }
  return out;
}

/** A map row: one (task, objective, setting), whether joint fails there and which scaling modes recover it. */
export interface RegimeMapRow {
  experiment: string;
  task: string;
  objective: string;
  setting: string;
  /** The knobs' values of the setting (a knob the cells do not read is absent). */
  values: Record<string, unknown>;
  joint: string;
  /** stage − joint with its interval. */
  c1: string;
  /** stage − joint itself (null without data). */
  c1Diff: number | null;
  /** yes: C1 reproduced (stage beats joint); no: contradicted (joint beats stage); ?: inconclusive or no data. */
  jointFails: 'yes' | 'no' | '?';
  /** The scaling modes whose claim is reproduced there (better than joint, not worse than stage). */
  recoveredBy: string[];
  /** The scaling modes significantly below joint. */
  worseThanJoint: string[];
}

const MEAN = (c: CellStats | undefined) => (c && c.mean !== null ? `${c.mean.toFixed(2)} (${c.n})` : '—');

export function regimeMap(report: RegimeReport): RegimeMapRow[] {
  return report.points.map((p) => {
    const c1 = p.claims.find((c) => c.claim === 'C1')!;
    const scaling = p.claims.filter((c) => c.claim !== 'C1');
    return {
      experiment: p.experiment,
      task: p.task,
      objective: p.objective,
      setting: settingLabel(report.knobs, p.values),
      values: Object.fromEntries(report.knobs.filter((k) => p.values[k] !== undefined).map((k) => [k, p.values[k]])),
      // Claim C1's baseline (stage − joint), so it names joint.
      joint: MEAN(p.cells.joint),
      c1: formatInterval(c1.ours),
      c1Diff: c1.ours?.diff ?? null,
      jointFails: c1.verdict === 'reproduced' ? 'yes' : c1.verdict === 'contradicted' ? 'no' : '?',
      recoveredBy: scaling.filter((c) => c.verdict === 'reproduced').map((c) => c.mode),
      worseThanJoint: scaling.filter((c) => c.ours?.hi !== null && c.ours?.hi !== undefined && c.ours.hi < 0).map((c) => c.mode),
    };
  });
}

const count = (xs: readonly string[]) => {
  const n = new Map<string, number>();
  for (const x of xs) n.set(x, (n.get(x) ?? 0) + 1);
  return [...n].map(([k, v]) => `${k} ${v}`).join(', ');
};

/** `k=v` of each knob value of a row. */
const knobValues = (r: RegimeMapRow): string[] => Object.entries(r.values).map(([k, v]) => `${k}=${text(v)}`);

/**
 * Where `rows` (a subset of `all`) sit along the knobs: `, all at k=v` when every row shares the value,
 * else `, c of them at k=v (of m rows there)` for the most common value when it holds at least half.
 */
function where(rows: readonly RegimeMapRow[], all: readonly RegimeMapRow[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) for (const kv of knobValues(r)) counts.set(kv, (counts.get(kv) ?? 0) + 1);
  const common = [...counts].filter(([, c]) => c === rows.length).map(([kv]) => kv);
  if (common.length > 0) return `, all at ${common.join(', ')}`;
  // The most common value; among equals, the one whose rows are most often among `rows`.
  const ranked = [...counts].map(([kv, c]) => ({ kv, c, there: all.filter((r) => knobValues(r).includes(kv)).length }));
  const [top] = ranked.sort((a, b) => b.c - a.c || b.c / b.there - a.c / a.there);
  if (!top || 2 * top.c < rows.length) return '';
  return `, ${top.c} of them at ${top.kv} (of ${top.there} rows there)`;
}

/**
 * Where joint does not lose to stage, a scaling mode can still beat joint (claims C2–C4 reproduced
 * without C1): stage and joint both suffer from a badly scaled start and the mode that resets the
 * scale does not. Such rows are the other half of "when does scaling matter", so the answer counts
 * them, names the knob values they share, and counts the rows where a mode falls below joint.
 */
function beyondC1(rest: readonly RegimeMapRow[]): string {
  const helped = rest.filter((r) => r.recoveredBy.length > 0);
  const hurt = rest.filter((r) => r.worseThanJoint.length > 0);
  const modes = CLAIMS.filter((c) => c.id !== 'C1').map((c) => c.mode);
  const by = (rs: readonly RegimeMapRow[], pick: (r: RegimeMapRow) => string[]) =>
    modes
      .map((m) => [m, rs.filter((r) => pick(r).includes(m)).length] as const)
      .filter(([, n]) => n > 0)
      .map(([m, n]) => `${m} in ${n}`)
      .join(', ');
  const parts: string[] = [];
  if (helped.length > 0) {
    parts.push(
      ` Where joint does not lose, a scaling mode still beats it (better than joint with 95 % confidence, not worse than stage) in ${helped.length} row${helped.length === 1 ? '' : 's'} (${by(helped, (r) => r.recoveredBy)})${where(helped, rest)}.`,
    );
  }
  if (hurt.length > 0)
    parts.push(` A scaling mode falls below joint (95 % confidence) in ${hurt.length} row${hurt.length === 1 ? '' : 's'} (${by(hurt, (r) => r.worseThanJoint)}).`);
  return parts.join('');
}

/**
 * The map in one sentence per task, generated from its rows so that it follows the data: in how many
 * (objective, setting) rows joint training loses to stage (C1 reproduced), for which objectives, by how
 * much, which scaling modes recover those rows, and where stage − joint lies in the others. Plain text:
 * the renderers escape it.
 */
export function regimeAnswer(rows: readonly RegimeMapRow[]): string[] {
  const tasks = [...new Set(rows.map((r) => r.task))];
  return tasks.map((task) => {
    const mine = rows.filter((r) => r.task === task && r.c1Diff !== null);
    const fails = mine.filter((r) => r.jointFails === 'yes');
    const rest = mine.filter((r) => r.jointFails !== 'yes');
    const range = (rs: readonly RegimeMapRow[]) => {
      const ds = rs.map((r) => r.c1Diff as number);
      return `${fmtDiff(Math.min(...ds))} to ${fmtDiff(Math.max(...ds))} points`;
    };
    const wonIn = (rs: readonly RegimeMapRow[]) => {
      const n = rs.filter((r) => r.jointFails === 'no').length;
      return n > 0 ? `, and joint beats stage in ${n}` : '';
    };
    if (fails.length === 0)
      return `${task}: joint training does not lose to stage-wise training in any of the ${mine.length} (objective, setting) rows: stage − joint runs from ${range(rest)}, and no 95 % interval lies above 0${wonIn(rest)}.${beyondC1(rest)}`;
    const recovered = CLAIMS.filter((c) => c.id !== 'C1')
      .map((c) => `${c.mode} in ${fails.filter((r) => r.recoveredBy.includes(c.mode)).length}`)
      .join(', ');
    const head =
      `${task}: joint training loses to stage-wise training (stage − joint above 0 with 95 % confidence, claim C1) in ${fails.length} of ${mine.length} (objective, setting) rows ` +
      `(${count(fails.map((r) => r.objective))}), by ${range(fails)}; scaling recovers them (better than joint, not worse than stage) with ${recovered}`;
    // The rest: objectives that never lose, and the failing objectives' other rows (seeds that disagree).
    const failing = new Set(fails.map((r) => r.objective));
    const calm = rest.filter((r) => !failing.has(r.objective));
    const unsure = rest.filter((r) => failing.has(r.objective));
    const parts = [
      ...(calm.length > 0 ? [`for ${[...new Set(calm.map((r) => r.objective))].join(', ')}, which never lose, stage − joint runs from ${range(calm)}${wonIn(calm)}`] : []),
      ...(unsure.length > 0
        ? [`the other ${unsure.length} row${unsure.length === 1 ? '' : 's'} of ${[...failing].join(', ')} run${unsure.length === 1 ? 's' : ''} from ${range(unsure)}, none above 0 with 95 % confidence${wonIn(unsure)}`]
        : []),
    ];
    const tail = parts.length > 0 ? `. ${parts.join('; ').replace(/^./, (c) => c.toUpperCase())}.` : '.';
    return head + tail + beyondC1(rest);
  });
}

export const REGIME_MAP_COLUMNS = ['Task', 'Objective', 'Setting', 'joint (n)', 'stage − joint [95 % CI]', 'Joint fails (C1)', 'Recovered by', 'Below joint'] as const;

export function regimeMapCells(r: RegimeMapRow): string[] {
  return [r.task, r.objective, r.setting, r.joint, r.c1, r.jointFails, r.recoveredBy.join(', ') || '—', r.worseThanJoint.join(', ') || '—'];
}

export const REGIME_MAP_LEGEND = [
  'Joint fails (C1): yes when stage − joint excludes 0 above it (95 % Welch interval), no when it excludes 0 below it, ? otherwise.',
  'Recovered by: the scaling modes better than joint (mode − joint excludes 0 above it) and not significantly worse than stage; the same rule as claims C2–C4.',
  'Below joint: the scaling modes whose mode − joint interval lies entirely below 0.',
];

export function renderRegimeMapHtml(rows: readonly RegimeMapRow[]): string {
  const head = `<tr>${REGIME_MAP_COLUMNS.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => {
    const cls = r.jointFails === 'yes' ? 'reproduced' : r.jointFails === 'no' ? 'contradicted' : 'inconclusive';
    const tds = regimeMapCells(r).map((s, i) => `<td${i === 5 ? ` class="verdict ${cls}"` : i >= 3 ? ' class="num"' : ''}>${escapeHtml(s)}</td>`);
    return `<tr data-task="${escapeHtml(r.task)}" data-objective="${escapeHtml(r.objective)}">${tds.join('')}</tr>`;
  });
  return `<table class="regime-map" id="regime-map">\n<thead>${head}</thead>\n<tbody>\n${body.join('\n')}\n</tbody>\n</table>\n`;
}

export function renderRegimeMapMarkdown(rows: readonly RegimeMapRow[]): string {
  const lines = [`| ${REGIME_MAP_COLUMNS.join(' | ')} |`, `| ${REGIME_MAP_COLUMNS.map((_, i) => (i < 3 ? '---' : i === 5 ? ':---:' : '---:')).join(' | ')} |`];
  // Task, objective and setting come from run folders (untrusted); the rest is sps's own formatting.
  for (const r of rows) lines.push(`| ${regimeMapCells(r).map((s, i) => (i < 3 ? escapeMarkdown(s) : s)).join(' | ')} |`);
  return lines.join('\n') + '\n';
}
