import Table from 'cli-table3';
import { escapeMarkdown } from '../util/text.js';
import { stringify } from 'csv-stringify/sync';
import { SpsError } from '../util/errors.js';
import type { ByRow, ByTable, SeedStat } from './by-table.js';
import type { CellStats } from './group.js';
import { STD_DESCRIPTION } from './stats.js';
import type { ResultsTable, TableRow } from './table.js';
import { canonicalJson } from '../config/cells.js';
import { PAPER_SOURCE } from './paper.js';

/**
 * Rendering of a ResultsTable (see table.ts) in the formats of `sps table --format`.
 *
 * Cell strings (text, markdown, latex): `97.10 ± 0.20 (5)` = mean ± sample std (n finished seeds),
 * 2 decimals; `97.10 ± — (1)` when n = 1; `—` for a missing cell. Markers: `*` fewer finished seeds
 * than planned, `†` the (task, objective, mode) also has runs with other settings, each on a row of
 * its own labelled `[what differs]`, `‡` the cell's runs were made on more than one back end. csv and json: `flagged` is true whenever a cell has a marker.
 * With --compare paper every (task, objective) row becomes three lines: ours, paper (mean ± std as
 * published) and Δ = ours − paper in percentage points (signed).
 * csv and json carry the same numbers unrounded, one record per cell.
 */

export const TABLE_FORMATS = ['text', 'markdown', 'csv', 'json', 'latex'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

export function parseFormat(value: string): TableFormat {
  if ((TABLE_FORMATS as readonly string[]).includes(value)) return value as TableFormat;
  throw new SpsError(`unknown table format "${value}": use one of ${TABLE_FORMATS.join(', ')}.`);
}

const DASH = '—';
const MINUS = '−';
export const FLAG_MARK = '*';
export const CONFIG_MARK = '†';
export const BACKEND_MARK = '‡';
export const BACKEND_NOTE = 'the cell\'s finished runs were made on more than one back end (they agree only to rounding)';

export const FLAG_NOTE = 'fewer finished seeds than planned (n < planned_seeds of the sweep)';
export const CONFIG_NOTE = 'this task, objective and mode also has runs with other settings; they are never averaged together: each setting has its own row, labelled [what differs from the unlabelled row] (see warnings)';

/** What each task's metrics measure, for labels: `accuracy` alone does not say letters, tokens or pixels. */
const METRIC_NAMES: Record<string, Record<string, string>> = {
  ocr: { accuracy: 'letter accuracy', word_accuracy: 'word accuracy' },
  chunking: { f1: 'chunk F1', precision: 'chunk precision', recall: 'chunk recall', accuracy: 'token accuracy' },
  segmentation: { iou: 'IoU', iou_pooled: 'pooled IoU', pixel_accuracy: 'pixel accuracy' },
  pos: { accuracy: 'token accuracy' },
};

/**
 * A metric's name for people (`letter accuracy`), without the `val_` of a validation metric; the key
 * itself when sps knows no better. Without a task, the paper's tasks are asked in order (OCR first).
 */
export function metricName(task: string | undefined, metric: string): string {
  const base = metric.startsWith('val_') ? metric.slice(4) : metric;
  if (task === undefined) return Object.values(METRIC_NAMES).find((names) => base in names)?.[base] ?? base;
  return METRIC_NAMES[task]?.[base] ?? base;
}

/** Fixed 2 decimals without a negative zero. */
export function fmt2(x: number): string {
  const s = x.toFixed(2);
  return /^-0\.00$/.test(s) ? '0.00' : s;
}

/** Signed difference with 2 decimals: +0.12, −0.08 (Unicode minus), 0.00. */
export function fmtDiff(x: number, minus = MINUS): string {
  const s = fmt2(x);
  if (s === '0.00') return s;
  return s.startsWith('-') ? minus + s.slice(1) : '+' + s;
}

function marks(c: CellStats): string {
  return (c.partial ? FLAG_MARK : '') + (c.variants > 1 ? CONFIG_MARK : '') + (c.backends.length > 1 ? BACKEND_MARK : '');
}

/** A cell with run folders of which none finished (failed, interrupted, running): not the same as no run at all (—). */
export const NONE_FINISHED = 'none finished';

/** Our value of a cell as text: `97.10 ± 0.20 (5)`, `97.10 ± — (1)`, `—` (no run), `none finished`, plus markers. */
export function formatOurs(c: CellStats | undefined): string {
  if (!c || c.runs === 0) return DASH;
  if (c.mean === null) return NONE_FINISHED + marks(c);
  return `${fmt2(c.mean)} ± ${c.std === null ? DASH : fmt2(c.std)} (${c.n})${marks(c)}`;
}

export function formatPaper(c: CellStats | undefined): string {
  if (!c || c.paperMean === null) return DASH;
  return `${fmt2(c.paperMean)} ± ${c.paperStd === null ? DASH : fmt2(c.paperStd)}`;
}

export function formatDiff(c: CellStats | undefined): string {
  return !c || c.diff === null ? DASH : fmtDiff(c.diff);
}

/** The machine-readable record of one cell (csv row, json array element). */
export interface TableRecord {
  experiment: string;
  task: string;
  objective: string;
  mode: string;
  metric: string | null;
  mean: number | null;
  std: number | null;
  n: number;
  planned: number;
  flagged: boolean;
  paper_mean: number | null;
  paper_std: number | null;
  diff: number | null;
  failed: number;
  unfinished: number;
  config_differs: string[];
  partial: boolean;
  damaged: number;
  variant: string;
  backends: string[];
}

export const CSV_COLUMNS = [
  'experiment', 'task', 'objective', 'mode', 'mean', 'std', 'n', 'planned', 'flagged',
  'paper_mean', 'paper_std', 'diff', 'metric', 'failed', 'unfinished', 'config_differs',
  'partial', 'damaged', 'variant', 'backends',
] as const;

export function tableRecords(table: ResultsTable): TableRecord[] {
  return table.cells.map((c) => ({
    experiment: c.experiment,
    task: c.task,
    objective: c.objective,
    mode: c.mode,
    metric: c.metric,
    mean: c.mean,
    std: c.std,
    n: c.n,
    planned: c.planned,
    flagged: c.flagged,
    paper_mean: c.paperMean,
    paper_std: c.paperStd,
    diff: c.diff,
    failed: c.failed,
    unfinished: c.unfinished,
    config_differs: c.configDiffers,
    partial: c.partial,
    damaged: c.damaged,
    variant: c.variant,
    backends: c.backends,
  }));
}

function cellPath(t: ResultsTable, c: CellStats): string {
  return (t.multipleExperiments ? `${c.experiment} / ` : '') + `${c.task} / ${c.objective} / ${c.mode}` + (c.variant === '' ? '' : ` [${c.variant}]`);
}

/** The notes below a table, as plain text lines (markdown and latex adapt them). */
export function tableNotes(t: ResultsTable): { legend: string[]; flagged: string[]; backends: string[]; metrics: string[]; totals: string; warnings: string[] } {
  const legend = [
    `Cells: mean ± std (n) of the test metric in %, over n finished seeds; std = ${STD_DESCRIPTION}. — = no run of this cell; ${NONE_FINISHED} = runs that have not finished (failed, interrupted or still running).`,
  ];
  if (t.compare) {
    legend.push(`paper = mean ± std as published (${PAPER_SOURCE}); Δ = ours − paper in percentage points.`);
  }
  const flagged = t.cells
    .filter((c) => c.partial)
    .map((c) => {
      const extra = [c.failed > 0 ? `${c.failed} failed` : '', c.unfinished > 0 ? `${c.unfinished} unfinished` : '', c.damaged > 0 ? `${c.damaged} damaged` : ''].filter((s) => s !== '');
      return `${cellPath(t, c)}: ${c.n} of ${c.planned} seeds finished${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
    });
  const metricsByTask = new Map<string, Set<string>>();
  for (const c of t.cells) {
    if (c.metric === null) continue;
    if (!metricsByTask.has(c.task)) metricsByTask.set(c.task, new Set());
    metricsByTask.get(c.task)!.add(c.metric);
  }
  const named = (task: string, m: string) => (metricName(task, m) === m ? m : `${m} (${metricName(task, m)})`);
  const metrics = [...metricsByTask].map(([task, ms]) => `${task}: ${[...ms].sort().map((m) => named(task, m)).join(', ')}`);
  const damaged = t.totals.damaged > 0 ? `, ${t.totals.damaged} damaged` : '';
  const totals = `Runs: ${t.totals.runs} (${t.totals.done} finished, ${t.totals.failed} failed, ${t.totals.unfinished} unfinished${damaged}); only finished runs are in the means.`;
  const backends = t.cells.filter((c) => c.backends.length > 1).map((c) => `${cellPath(t, c)}: ${c.backends.join(', ')}`);
  return { legend, flagged, backends, metrics, totals, warnings: t.warnings };
}

function notesAsText(t: ResultsTable): string[] {
  const n = tableNotes(t);
  const out = [...n.legend];
  if (n.metrics.length > 0) out.push(`Metric (final.json primary): ${n.metrics.join('; ')}.`);
  if (n.flagged.length > 0) {
    out.push(`${FLAG_MARK} ${FLAG_NOTE}:`);
    for (const f of n.flagged) out.push(`    ${f}`);
  }
  if (t.cells.some((c) => c.variants > 1)) out.push(`${CONFIG_MARK} ${CONFIG_NOTE}.`);
  if (n.backends.length > 0) out.push(`${BACKEND_MARK} ${BACKEND_NOTE}: ${n.backends.join('; ')}.`);
  out.push(n.totals);
  if (n.warnings.length > 0) {
    out.push('Warnings:');
    for (const w of n.warnings) out.push(`    ${w}`);
  }
  return out;
}

/** One logical table row as display lines: [task, objective, (source,) ...modes]. */
function displayLines(t: ResultsTable, row: TableRow): string[][] {
  const ours = t.modes.map((m) => formatOurs(row.cells[m]));
  if (!t.compare) return [[row.label, row.objective, ...ours]];
  return [
    [row.label, row.objective, 'ours', ...ours],
    ['', '', 'paper', ...t.modes.map((m) => formatPaper(row.cells[m]))],
    ['', '', 'Δ (pp)', ...t.modes.map((m) => formatDiff(row.cells[m]))],
  ];
}

function header(t: ResultsTable): string[] {
  return ['Task', 'Objective', ...(t.compare ? ['Source'] : []), ...t.modes];
}

const TITLE = 'Test metric (%) by task, objective (rows) and training mode (columns): mean ± sample std (n)';

export function renderText(t: ResultsTable): string {
  const labelCols = t.compare ? 3 : 2;
  // One table row per block with the block's lines stacked in each cell, so rules separate blocks only:
  // plain → a block is a task (one line per objective); compare → a block is a (task, objective)
  // row with the lines ours / paper / Δ.
  const table = new Table({
    head: header(t),
    style: { head: [], border: [] },
    colAligns: [...Array<'left'>(labelCols).fill('left'), ...Array<'right'>(t.modes.length).fill('right')],
  });
  const blocks: string[][][] = [];
  let prev: TableRow | undefined;
  for (const row of t.rows) {
    const lines = displayLines(t, row);
    if (!t.compare && prev && prev.task === row.task && prev.experiment === row.experiment) {
      // A further line of the same task: no repeated task name, but a setting's label stays.
      blocks[blocks.length - 1].push(...lines.map((l, i) => [i === 0 && row.variant !== '' ? `[${row.variant}]` : '', ...l.slice(1)]));
    } else {
      blocks.push(lines);
    }
    prev = row;
  }
  for (const lines of blocks) table.push(lines[0].map((_, i) => lines.map((l) => l[i]).join('\n')));
  return [TITLE, table.toString(), ...notesAsText(t)].join('\n') + '\n';
}

function mdEscape(s: string): string {
  return escapeMarkdown(s);
}

export function renderMarkdown(t: ResultsTable): string {
  const h = header(t);
  const labelCols = t.compare ? 3 : 2;
  const lines = [
    `| ${h.map(mdEscape).join(' | ')} |`,
    `| ${h.map((_, i) => (i < labelCols ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const row of t.rows) for (const line of displayLines(t, row)) lines.push(`| ${line.map(mdEscape).join(' | ')} |`);
  const n = tableNotes(t);
  const notes = [...n.legend];
  if (n.metrics.length > 0) notes.push(`Metric (final.json primary): ${n.metrics.join('; ')}.`);
  if (n.flagged.length > 0) notes.push(`${FLAG_MARK} ${FLAG_NOTE}: ${n.flagged.join('; ')}.`);
  if (t.cells.some((c) => c.variants > 1)) notes.push(`${CONFIG_MARK} ${CONFIG_NOTE}.`);
  if (n.backends.length > 0) notes.push(`${BACKEND_MARK} ${BACKEND_NOTE}: ${n.backends.join('; ')}.`);
  notes.push(n.totals);
  for (const w of n.warnings) notes.push(`Warning: ${w}`);
  return [`**${mdEscape(TITLE)}**`, '', ...lines, '', ...notes.map((s) => `- ${mdEscape(s)}`)].join('\n') + '\n';
}

export function latexEscape(s: string): string {
  return s
    .replace(/\\/g, '\u0000')
    .replace(/([&%$#_{}])/g, '\\$1')
    .replace(/~/g, '\\textasciitilde{}')
    .replace(/\^/g, '\\textasciicircum{}')
    // eslint-disable-next-line no-control-regex -- NUL stands for a backslash while the other escapes are added
    .replace(/\u0000/g, '\\textbackslash{}')
    .replace(/</g, '$<$')
    .replace(/>/g, '$>$')
    .replace(/\|/g, '\\textbar{}')
    .replace(/—/g, '---')
    .replace(/±/g, '$\\pm$')
    .replace(/−/g, '$-$')
    .replace(/Δ/g, '$\\Delta$')
    .replace(/†/g, '$^{\\dagger}$')
    .replace(/‡/g, '$^{\\ddagger}$')
    .replace(/≥/g, '$\\geq$');
}

function latexMarks(c: CellStats): string {
  const m = (c.partial ? '*' : '') + (c.variants > 1 ? '\\dagger' : '') + (c.backends.length > 1 ? '\\ddagger' : '');
  return m === '' ? '' : `$^{${m}}$`;
}

function latexOurs(c: CellStats | undefined): string {
  if (!c || c.runs === 0) return '---';
  if (c.mean === null) return NONE_FINISHED + latexMarks(c);
  const std = c.std === null ? '$\\pm$ ---' : `$\\pm$ ${fmt2(c.std)}`;
  return `${fmt2(c.mean)} ${std} (${c.n})${latexMarks(c)}`;
}

function latexPaper(c: CellStats | undefined): string {
  if (!c || c.paperMean === null) return '---';
  return `${fmt2(c.paperMean)} $\\pm$ ${c.paperStd === null ? '---' : fmt2(c.paperStd)}`;
}

function latexDiff(c: CellStats | undefined): string {
  return !c || c.diff === null ? '---' : `$${fmtDiff(c.diff, '-')}$`;
}

export function renderLatex(t: ResultsTable): string {
  const labelCols = t.compare ? 3 : 2;
  const spec = 'l'.repeat(labelCols) + 'r'.repeat(t.modes.length);
  const out = [
    `% sps table: ${latexEscape(TITLE).replace(/\n/g, ' ')}`,
    '% needs \\usepackage{booktabs}',
    `\\begin{tabular}{${spec}}`,
    '\\toprule',
    header(t).map(latexEscape).join(' & ') + ' \\\\',
    '\\midrule',
  ];
  let prevTask: string | undefined;
  for (const row of t.rows) {
    const taskKey = `${row.task}\u0000${row.experiment}`;
    if (prevTask !== undefined && taskKey !== prevTask) out.push('\\midrule');
    else if (prevTask !== undefined && t.compare) out.push('\\addlinespace');
    prevTask = taskKey;
    const labels = [latexEscape(row.label), latexEscape(row.objective)];
    const ours = t.modes.map((m) => latexOurs(row.cells[m]));
    if (!t.compare) {
      out.push([...labels, ...ours].join(' & ') + ' \\\\');
    } else {
      out.push([...labels, 'ours', ...ours].join(' & ') + ' \\\\');
      out.push(['', '', 'paper', ...t.modes.map((m) => latexPaper(row.cells[m]))].join(' & ') + ' \\\\');
      out.push(['', '', '$\\Delta$ (pp)', ...t.modes.map((m) => latexDiff(row.cells[m]))].join(' & ') + ' \\\\');
    }
  }
  out.push('\\bottomrule', '\\end{tabular}');
  const n = tableNotes(t);
  const notes = n.legend.map(latexEscape);
  if (n.metrics.length > 0) notes.push(latexEscape(`Metric (final.json primary): ${n.metrics.join('; ')}.`));
  if (n.flagged.length > 0) notes.push(`$^{*}$ ${latexEscape(`${FLAG_NOTE}: ${n.flagged.join('; ')}.`)}`);
  if (t.cells.some((c) => c.variants > 1)) notes.push(latexEscape(`${CONFIG_MARK} ${CONFIG_NOTE}.`));
  if (n.backends.length > 0) notes.push(latexEscape(`${BACKEND_MARK} ${BACKEND_NOTE}: ${n.backends.join('; ')}.`));
  notes.push(latexEscape(n.totals));
  for (const w of n.warnings) notes.push(latexEscape(`Warning: ${w}`));
  out.push('', '{\\footnotesize', notes.join(' \\\\\n'), '\\par}');
  return out.join('\n') + '\n';
}

export function renderCsv(t: ResultsTable): string {
  const records = tableRecords(t).map((r) => ({ ...r, config_differs: r.config_differs.join(' ') }));
  return stringify(records, {
    header: true,
    columns: [...CSV_COLUMNS],
    cast: { boolean: (v: boolean) => (v ? 'true' : 'false') },
  });
}

export function renderJson(t: ResultsTable): string {
  const records = tableRecords(t);
  const doc = {
    std_kind: t.stdKind,
    std_description: STD_DESCRIPTION,
    compare: t.compare ? 'paper' : null,
    ...(t.compare ? { paper_source: PAPER_SOURCE } : {}),
    totals: t.totals,
    warnings: t.warnings,
    cells: t.cells.map((c, i) => ({ ...records[i], seeds: c.seeds, values: c.values })),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

export function renderTable(t: ResultsTable, format: TableFormat): string {
  switch (format) {
    case 'text': return renderText(t);
    case 'markdown': return renderMarkdown(t);
    case 'csv': return renderCsv(t);
    case 'json': return renderJson(t);
    case 'latex': return renderLatex(t);
  }
}

/** `97.10 ± 0.20 (2)` for a validation metric over seeds, `—` without values. */
function formatStat(s: SeedStat): string {
  return s.mean === null ? DASH : `${fmt2(s.mean)} ± ${s.std === null ? DASH : fmt2(s.std)} (${s.n})`;
}

/** A number for reading: at most 4 significant digits (`19.33`, `0.001`, `1`), not the 17 of its JSON. */
export function fmtNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(4)));
}

/** A swept value in a table cell: numbers and strings as written, lists and maps as JSON, `—` where the cell has no such key. */
export function formatSwept(v: unknown): string {
  return v === undefined ? DASH : typeof v === 'string' ? v : JSON.stringify(v);
}

export const BY_FORMATS = ['text', 'markdown', 'csv', 'json'] as const;

/** One record per row of `sps table --by`, for csv and json (unrounded). */
function byRecords(t: ByTable): Record<string, unknown>[] {
  return t.rows.map(({ cell: c, by, val, alpha, sameAsJoint }) => ({
    experiment: c.experiment,
    task: c.task,
    objective: c.objective,
    mode: c.mode,
    ...Object.fromEntries(t.keys.map((k) => [k, by[k] ?? null])),
    other_settings: c.variant,
    metric: c.metric,
    test_mean: c.mean,
    test_std: c.std,
    n: c.n,
    planned: c.planned,
    val_metric: val.metric,
    val_mean: val.mean,
    val_std: val.std,
    val_n: val.n,
    online_alpha_mean: alpha?.mean ?? null,
    online_alpha_min: alpha?.min ?? null,
    online_alpha_max: alpha?.max ?? null,
    same_as_joint: sameAsJoint?.same ?? null,
    compared_with_joint: sameAsJoint?.of ?? null,
    seeds: c.seeds,
  }));
}

/**
 * `sps table --by`: a row per setting, the --by keys as row levels, then the test metric (final.json
 * primary) and the final validation metric, each mean ± sample std (n) over seeds. `other settings`
 * appears when rows with the same --by values differ in another key.
 */
export function renderByTable(t: ByTable, format: TableFormat): string {
  if (!(BY_FORMATS as readonly string[]).includes(format)) throw new SpsError(`--by: format "${format}" is not supported with --by; use one of ${BY_FORMATS.join(', ')}.`);
  if (format === 'json') return JSON.stringify({ by: t.keys, std_kind: 'sample', std_description: STD_DESCRIPTION, warnings: t.warnings, rows: byRecords(t) }, null, 2) + '\n';
  if (format === 'csv') return stringify(byRecords(t).map((r) => ({ ...r, seeds: (r.seeds as number[]).join(' ') })), { header: true, cast: { object: (v) => JSON.stringify(v) } });
  const others = t.rows.some((r) => r.cell.variant !== '' && t.rows.some((q) => q !== r && q.cell.mode === r.cell.mode && q.cell.objective === r.cell.objective && q.cell.task === r.cell.task && t.keys.every((k) => canonicalJson(q.by[k] ?? null) === canonicalJson(r.by[k] ?? null))));
  const metrics = (pick: (r: ByRow) => string | null) => [...new Set(t.rows.flatMap((r) => { const m = pick(r); return m === null ? [] : [metricName(r.cell.task, m)]; }))].join('/') || 'metric';
  const alpha = t.rows.some((r) => r.alpha !== null);
  const same = t.rows.some((r) => r.sameAsJoint !== null);
  const head = ['task', 'objective', 'mode', ...t.keys, ...(others ? ['other settings'] : []), `test ${metrics((r) => r.cell.metric)}`, `val ${metrics((r) => r.val.metric)}`, ...(alpha ? ['online α'] : []), ...(same ? ['= joint'] : []), 'seeds'];
  const body = t.rows.map(({ cell: c, by, val, alpha: a, sameAsJoint: s }) => [
    c.experiment === t.rows[0].cell.experiment ? c.task : `${c.task} (${c.experiment})`,
    c.objective,
    c.mode,
    ...t.keys.map((k) => formatSwept(by[k])),
    ...(others ? [c.variant === '' ? 'main' : c.variant] : []),
    formatOurs(c),
    formatStat(val),
    ...(alpha ? [a === null ? '' : a.min === a.max ? fmtNumber(a.mean) : `${fmtNumber(a.mean)} [${fmtNumber(a.min)}, ${fmtNumber(a.max)}]`] : []),
    ...(same ? [s === null ? '' : s.same === s.of ? 'same' : s.same === 0 ? 'differs' : `same in ${s.same} of ${s.of}`] : []),
    c.seeds.join(' '),
  ]);
  const notes = [
    `mean ± ${STD_DESCRIPTION}; test: final.json primary metric; val: the final validation metric (final.json validation, else the last epoch of metrics.jsonl).`,
    ...(alpha ? ['online α: the α online scaling ended with (final.json alpha), mean over seeds [min, max] when they differ; α = 1 throughout makes online joint training.'] : []),
    ...(same ? ['= joint: "same" when every seed\'s final metrics (test and validation) equal those of joint with the same settings, to the bit: the mode changed nothing.'] : []),
    ...(t.rows.some((r) => r.cell.partial) ? [`${FLAG_MARK} ${FLAG_NOTE}`] : []),
    ...(t.rows.some((r) => r.cell.variants > 1) ? [`${CONFIG_MARK} rows with the same ${t.keys.join(', ')} differ in another setting (column "other settings")`] : []),
    ...t.warnings.map((w) => `Warning: ${w}`),
  ];
  if (format === 'markdown') {
    const line = (cells: string[]) => `| ${cells.map((x) => x.replaceAll('|', '\\|')).join(' | ')} |`;
    return [line(head), line(head.map(() => '---')), ...body.map(line), '', ...notes].join('\n') + '\n';
  }
  const table = new Table({ head, style: { head: [], border: [] } });
  table.push(...body);
  return `${table.toString()}\n${notes.join('\n')}\n`;
}
