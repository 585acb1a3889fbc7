import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TASKS } from '../../config/constants.js';
import { compareTasks } from '../aggregate.js';
import type { PaperEntry } from '../paper.js';
import { PAPER_SOURCE } from '../paper.js';
import { renderMarkdown, renderText } from '../render.js';
import { scanResults, type StoredRun } from '../store.js';
import { buildClaims, PAPER_ASSUMED_N, VERDICT_RULE, type ClaimsReport } from './claims.js';
import { claimsLegend, escapeHtml, renderClaimsHtml, renderClaimsMarkdown } from './claims-render.js';
import { ocrStrip, segmentationExamples, IMAGE_DIR, type ExampleFigure } from './examples.js';
import { byTaskObjective, cellsFigure, loadCurves, normRatioFigure, onlineAlphaFigure, validationFigure, type FigureSpec } from './figures.js';
import { renderSvg } from './vega.js';
import { FsError, SpsError } from '../../util/errors.js';
import { ensureDir, removeStale, replaceDir, tempPid, tempSibling, writeFileAtomic } from '../../util/fsx.js';
import { escapeMarkdown } from '../../util/text.js';

/**
 * `sps report`: one static folder, readable offline and on a code host.
 *   index.html   claims table, figures as inline SVG, example images (PNG files in images/)
 *   report.md    the same tables, the figures as links to figures/*.svg
 *   figures/     one SVG per figure
 *   images/      PNG thumbnails of example predictions
 *   claims.json  the claims table, machine-readable
 */

export const FIGURE_DIR = 'figures';

export interface ReportOptions {
  outDir: string;
  /** The paper's table (`--compare paper`). */
  paper?: readonly PaperEntry[];
  /** Where the prepared data sets are (for the example images). */
  dataDir: string;
  /** Only the runs of these experiments (`--experiment`). */
  experiments?: readonly string[];
}

export interface ReportResult {
  claims: ClaimsReport;
  figures: (FigureSpec & { svg: string })[];
  examples: ExampleFigure[];
  files: string[];
}

const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}h3{margin-top:1.8rem}
table{border-collapse:collapse;font-size:.85rem;margin:.8rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;vertical-align:middle}
th{background:#f5f5f5}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}td.mono{font-family:ui-monospace,monospace;font-size:1rem}
td.verdict{font-weight:600;text-align:center}.reproduced{background:#d9f2d9}.contradicted{background:#f8d4d4}.inconclusive{background:#f3f3f3}.no-data{color:#999}
mark.err{background:#f8b4b4;color:#900;font-weight:700}
figure{margin:1.2rem 0;overflow-x:auto}figcaption{font-size:.85rem;color:#444;max-width:60rem}
img.word{image-rendering:pixelated;height:32px}img.mask{image-rendering:pixelated;width:96px;height:96px}
ul.summary li{margin:.2rem 0}pre{font-size:.7rem;overflow-x:auto;background:#fafafa;padding:.5rem}
`;

function figureHtml(f: FigureSpec & { svg: string }): string {
  return `<figure class="fig" id="fig-${f.id}" data-kind="${f.kind}">\n${f.svg}\n<figcaption><b>${escapeHtml(f.title)}.</b> ${escapeHtml(f.caption)}</figcaption>\n</figure>`;
}

function exampleHtml(e: ExampleFigure): string {
  const notes = e.notes.map((n) => `<br><i>${escapeHtml(n)}</i>`).join('');
  return `<figure class="example" id="fig-${e.id}" data-kind="${e.kind}">\n${e.html}\n<figcaption><b>${escapeHtml(e.title)}.</b> ${escapeHtml(e.caption)}${notes}</figcaption>\n</figure>`;
}

function figureMd(f: FigureSpec): string {
  return `![${escapeMarkdown(f.title)}](${FIGURE_DIR}/${f.id}.svg)\n\n*${escapeMarkdown(f.title)}.* ${escapeMarkdown(f.caption)}\n`;
}

function exampleMd(e: ExampleFigure): string {
  return `**${escapeMarkdown(e.title)}.** ${escapeMarkdown(e.caption)}${e.notes.map((n) => ` *${escapeMarkdown(n)}*`).join('')}\n\n${e.markdown}\n`;
}

/** A folder holding these is an earlier report, which a new one replaces whole. */
const REPORT_MARKERS = ['index.html', 'claims.json'];

/**
 * The report is built in a hidden sibling of `outDir` and swapped in whole (replaceDir), so a kill
 * or a full disk leaves the previous report as it was. Since the swap replaces the folder, a
 * non-empty folder that is not an earlier report (no index.html and claims.json) is refused.
 */
function stageReport(outDir: string): string {
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory()) throw new SpsError(`--out ${outDir}: a file, not a folder; give sps report a new or empty folder (--out DIR)`);
    const entries = readdirSync(outDir);
    if (entries.length > 0 && !REPORT_MARKERS.every((m) => entries.includes(m))) {
      throw new SpsError(`--out ${outDir}: the folder is not empty and holds no earlier report (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}), and sps report replaces the whole folder; give it a new or empty folder, or an earlier report's (--out DIR)`);
    }
  }
  ensureDir(dirname(outDir));
  removeStale(dirname(outDir), (n) => (n.startsWith(`.${basename(outDir)}.`) ? tempPid(n) : undefined));
  const staged = tempSibling(outDir);
  try {
    ensureDir(join(staged, FIGURE_DIR));
    ensureDir(join(staged, IMAGE_DIR));
  } catch (e) {
    // The staging folder is sps's business: name the folder the user gave.
    throw e instanceof FsError ? new FsError(outDir, 'write the report', e) : e;
  }
  return staged;
}

/** Build the whole report for the runs under `resultsDir` and write it to `options.outDir`. */
export async function writeReport(resultsDir: string, options: ReportOptions): Promise<ReportResult> {
  const { runs } = scanResults(resultsDir, options.experiments);
  const claims = buildClaims(runs, options.paper);
  const curves = loadCurves(runs);
  const { outDir } = options;
  const staged = stageReport(outDir);
  try {
    const result = await buildReport(resultsDir, options, runs, claims, curves, staged);
    replaceDir(staged, outDir);
    return result;
  } catch (e) {
    rmSync(staged, { recursive: true, force: true });
    throw e;
  }
}

async function buildReport(
  resultsDir: string,
  options: ReportOptions,
  runs: StoredRun[],
  claims: ClaimsReport,
  curves: ReturnType<typeof loadCurves>,
  outDir: string,
): Promise<ReportResult> {

  const specs: FigureSpec[] = [];
  const tasks = [...new Set(claims.table.cells.filter((c) => c.n > 0).map((c) => c.task))].sort(compareTasks);
  for (const task of tasks) {
    const cf = cellsFigure(task, claims.table);
    if (cf) specs.push(cf);
    for (const g of byTaskObjective(curves).filter((x) => x.task === task)) {
      for (const f of [validationFigure(g.task, g.objective, g.runs), normRatioFigure(g.task, g.objective, g.runs), onlineAlphaFigure(g.task, g.objective, g.runs)]) {
        if (f) specs.push(f);
      }
    }
  }
  const figures: (FigureSpec & { svg: string })[] = [];
  for (const s of specs) figures.push({ ...s, svg: await renderSvg(s.spec) });
  const examples = [ocrStrip(runs, outDir, options.dataDir), segmentationExamples(runs, outDir, options.dataDir)].filter((e): e is ExampleFigure => e !== null);

  const files: string[] = [];
  for (const f of figures) {
    writeFileAtomic(join(outDir, FIGURE_DIR, `${f.id}.svg`), f.svg);
    files.push(`${FIGURE_DIR}/${f.id}.svg`);
  }
  for (const e of examples) files.push(...e.images);

  const totals = claims.table.totals;
  const intro = `Generated by \`sps report\` from ${totals.done} finished runs (${totals.failed} failed, ${totals.unfinished} unfinished, not used) in \`${resultsDir}\`${options.experiments ? ` (experiments ${options.experiments.join(', ')})` : ''}${options.paper ? `, compared with the paper (${PAPER_SOURCE})` : ''}.`;
  const summaryLines = claims.summaries.map((s) => `${s.scope === 'all' ? 'Whole table' : s.scope}: ${s.text}.`);
  const taskOrder = [...TASKS, ...tasks.filter((t) => !(TASKS as readonly string[]).includes(t))];

  // HTML
  const html: string[] = [
    '<!doctype html>', '<html lang="en"><head><meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>sps report: which claims of "Scaling Matters" reproduce</title>`, `<style>${STYLE}</style>`, '</head><body>',
    '<h1>Scaling Matters in Deep Structured-Prediction Models: which claims reproduce</h1>',
    `<p>${escapeHtml(intro).replace(/`([^`]*)`/g, '<code>$1</code>')}</p>`,
    '<h2 id="claims">Claims</h2>', '<ul class="summary">', ...summaryLines.map((l) => `<li>${escapeHtml(l)}</li>`), '</ul>',
    renderClaimsHtml(claims),
    '<h3>How to read the claims table</h3>', '<ul>', ...claimsLegend().map((l) => `<li>${escapeHtml(l)}</li>`), '</ul>',
  ];
  const md: string[] = [
    '# Scaling Matters in Deep Structured-Prediction Models: which claims reproduce', '', escapeMarkdown(intro.replace(/`/g, '')), '', '## Claims', '',
    ...summaryLines.map((l) => `- ${escapeMarkdown(l)}`), '', renderClaimsMarkdown(claims), '### How to read the claims table', '', ...claimsLegend().map((l) => `- ${l}`), '',
  ];
  for (const task of taskOrder) {
    const tf = figures.filter((f) => f.task === task);
    const te = examples.filter((e) => (task === 'ocr' ? e.kind === 'ocr-strip' : task === 'segmentation' ? e.kind === 'segmentation' : false));
    if (tf.length === 0 && te.length === 0) continue;
    html.push(`<h2 id="task-${escapeHtml(task)}">${escapeHtml(task)}</h2>`);
    md.push(`## ${escapeMarkdown(task)}`, '');
    let objective: string | undefined;
    for (const f of tf) {
      if (f.objective && f.objective !== objective) {
        objective = f.objective;
        html.push(`<h3>${escapeHtml(task)} / ${escapeHtml(objective)}</h3>`);
        md.push(`### ${escapeMarkdown(`${task} / ${objective}`)}`, '');
      }
      html.push(figureHtml(f));
      md.push(figureMd(f));
    }
    for (const e of te) {
      html.push(`<h3>Examples</h3>`, exampleHtml(e));
      md.push('### Examples', '', exampleMd(e));
    }
  }
  html.push('<h2 id="table">All cells</h2>', `<pre>${escapeHtml(renderText(claims.table))}</pre>`, '</body></html>');
  md.push('## All cells', '', renderMarkdown(claims.table));

  writeFileAtomic(join(outDir, 'index.html'), html.join('\n') + '\n');
  writeFileAtomic(join(outDir, 'report.md'), md.join('\n'));
  const json = {
    rule: VERDICT_RULE,
    paper_assumed_n: PAPER_ASSUMED_N,
    compare: options.paper ? 'paper' : null,
    summaries: claims.summaries.map(({ scope, text, counts }) => ({ scope, text, counts })),
    rows: claims.rows,
  };
  writeFileAtomic(join(outDir, 'claims.json'), JSON.stringify(json, null, 2) + '\n');
  files.push('index.html', 'report.md', 'claims.json');
  return { claims, figures, examples, files };
}
