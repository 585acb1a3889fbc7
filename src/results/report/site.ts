import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TASKS } from '../../core/constants.js';
import { buildByTable } from '../by-table.js';
import { compareTasks } from '../order.js';
import { buildTable } from '../table.js';
import type { PaperEntry } from '../paper.js';
import { PAPER_SOURCE } from '../paper.js';
import { renderByTable, renderMarkdown, renderText } from '../render.js';
import { groupBySetting, studyKeys, type KeysSource, type Setting } from '../settings.js';
import { readMetrics, scanResults, type StoredRun } from '../store.js';
import { buildClaims, buildSettingClaims, PAPER_ASSUMED_N, VERDICT_RULE, type ClaimsReport } from './claims.js';
import { BEYOND_PAPER, beyondPaper, claimsLegend, escapeHtml, renderClaimsHtml, renderClaimsMarkdown } from './claims-render.js';
import { ocrStrip, segmentationExamples, IMAGE_DIR, type ExampleFigure } from './examples.js';
import { byTaskObjective, cellsFigure, inGroups, loadCurves, metricLabel, normRatioFigure, onlineAlphaFigure, settingCellsFigure, settingCurves, settingCurvesFigure, slug, validationFigure, type FigureGroup, type FigureSpec } from './figures.js';
import { renderSvg } from './vega.js';
import { verdictMatrixHtml, verdictMatrixMarkdown } from './matrix.js';
import { buildRegime, regimeAnswer, regimeFigures, regimeMap, REGIME_MAP_LEGEND, renderRegimeMapHtml, renderRegimeMapMarkdown, type RegimeReport } from './regime.js';
import { FsError, SpsError } from '../../util/errors.js';
import { ensureDir, removeStale, replaceDir, tempPid, tempSibling, writeFileAtomic } from '../../util/fsx.js';
import { escapeMarkdown, shellQuote } from '../../util/text.js';

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
  /**
   * `--by`: draw claims, curves and cells per setting of these keys. Without it, the keys the folder
   * was swept over (results/settings.ts `studyKeys`); a folder of one setting per cell, such as the
   * paper's table, gets the paper's claims view.
   */
  by?: readonly string[];
  /**
   * `--regime DIR [--regime-by KEYS]`: open the report with the regime study's answer (regime.ts
   * `regimeAnswer`), one sentence per task, computed from that folder's runs along KEYS (default: the
   * keys its sweep swept).
   */
  regime?: { dir: string; by?: readonly string[] };
  /** `--figures`: only the figures (and example panels) of these groups; all when undefined. */
  figures?: readonly FigureGroup[];
}

export interface ReportResult {
  claims: ClaimsReport;
  /** The keys the report is drawn by, and where they came from; [] for the paper's claims view. */
  by: { keys: string[]; source: KeysSource | null; settings: string[] };
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

/** A figure of one setting: its id and title name the setting, so that the settings' figures stay apart. */
function ofSetting(f: FigureSpec | null, s: Setting, i: number): FigureSpec | null {
  if (!f) return null;
  const t = `${f.title} [${s.label}]`;
  return { ...f, id: `${f.id}-setting${i + 1}`, title: t, spec: { ...f.spec, title: { text: t, anchor: 'start' } } as FigureSpec['spec'] };
}

/** What differs between the paper's claims view and a study's view by its settings. */
interface View {
  claims: ClaimsReport;
  specs: FigureSpec[];
  title: string;
  heading: string;
  /** Said after the intro: the settings and where their keys come from. */
  settingsText: string[];
  /** The study's settings; [] in the paper's view. */
  settings: Setting[];
  allCellsText: string;
  allCellsMd: string;
  /**
   * What opens the report, before the long claims table: the verdict matrix (the paper's view) or the
   * regime map (a study's view; docs/report.md).
   */
  opening: { id: string; heading: string; html: string; md: string; notes: string[] };
  /** `--regime`: the regime study's answer, said before the opening (plain text; escaped when written). */
  answer?: { lines: string[]; source: string };
}

/** The regime study's answer for `--regime`: its sentences, and where they come from. */
function regimeAnswerOf(regime: NonNullable<ReportOptions['regime']>): NonNullable<View['answer']> {
  const { runs } = scanResults(regime.dir);
  if (runs.length === 0) throw new SpsError(`--regime ${regime.dir}: no finished runs there; give the folder of a regime study (e.g. results/studies/regime)`);
  const keys = regime.by ? [...regime.by] : studyKeys(regime.dir, runs).keys;
  if (keys.length === 0) throw new SpsError(`--regime ${regime.dir}: its runs were swept over no key; name the knobs with --regime-by KEY[,KEY]`);
  const lines = regimeAnswer(regimeMap(buildRegime(runs, keys)));
  const done = runs.filter((r) => r.run.status === 'done').length;
  return { lines, source: `From the regime study in ${regime.dir} (${done} finished runs, along ${keys.join(', ')}); its map and figures: sps report ${shellQuote(regime.dir)} --by ${keys.join(',')}.` };
}

/** The paper's claims view: a row per (task, objective) and claim, figures per task and objective. */
function paperView(runs: readonly StoredRun[], paper: readonly PaperEntry[] | undefined): View {
  const claims = buildClaims(runs, paper);
  const curves = loadCurves(runs);
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
  const heading = 'Scaling Matters in Deep Structured-Prediction Models: which claims reproduce';
  const opening = { id: 'verdicts', heading: 'Verdicts at a glance', html: verdictMatrixHtml(claims), md: verdictMatrixMarkdown(claims), notes: [] };
  return { claims, specs, title: 'sps report: which claims of "Scaling Matters" reproduce', heading, settingsText: [], settings: [], allCellsText: renderText(claims.table), allCellsMd: renderMarkdown(claims.table), opening };
}

const SOURCE_TEXT: Record<KeysSource, string> = {
  by: 'as given by --by',
  'sweep.json': 'the keys the sweep swept (sweep.json)',
  settings: 'the keys in which the runs of a cell differ',
};

/** A study's view: the claims, the curves and the cells of each setting of `keys`, each labelled. */
function studyView(runs: readonly StoredRun[], keys: string[], source: KeysSource, paper: readonly PaperEntry[] | undefined): View {
  // Before anything else: a --by key no run has is an error (buildByTable's), not an empty report.
  const byTable = buildByTable(runs, keys, readMetrics);
  const settings = groupBySetting(runs.filter((r) => r.done), keys);
  const claims = buildSettingClaims(settings, paper);
  const curves = settingCurves(settings);
  const tables = settings.map((s) => ({ label: s.short, table: buildTable(s.runs) }));
  const specs: FigureSpec[] = [];
  const tasks = [...new Set(claims.table.cells.filter((c) => c.n > 0).map((c) => c.task))].sort(compareTasks);
  const by = keys.join(', ');
  // The regime view is an addition to the study's view: where it cannot be drawn, the report says why.
  let regime: RegimeReport | null = null;
  const regimeNotes: string[] = [];
  try {
    regime = buildRegime(runs, keys);
  } catch (e) {
    if (!(e instanceof SpsError)) throw e;
    regimeNotes.push(`no regime view: ${e.message}`);
  }
  for (const task of tasks) {
    const cf = settingCellsFigure(task, keys, tables);
    if (cf) specs.push(cf);
    for (const g of byTaskObjective(curves.flatMap((c) => c.runs)).filter((x) => x.task === task)) {
      const mine = curves.map((c) => ({ label: c.label, runs: c.runs.filter((r) => r.task === task && r.objective === g.objective) }));
      const metric = `val_${g.runs[0].primary}`;
      const curve = settingCurvesFigure({ id: slug('setting-curves', task, g.objective), title: `${task} / ${g.objective}: validation ${metricLabel(g.runs[0].primary, task)} per epoch, by ${by}`, metric, keys, settings: mine });
      if (curve) specs.push({ ...curve, objective: g.objective });
      const experimentsHere = [...new Set(regime?.points.filter((p) => p.task === task && p.objective === g.objective).map((p) => p.experiment) ?? [])];
      for (const experiment of experimentsHere) specs.push(...regimeFigures(regime!, experiment, task, g.objective));
      settings.forEach((s, i) => {
        for (const f of [normRatioFigure(task, g.objective, mine[i].runs), onlineAlphaFigure(task, g.objective, mine[i].runs)]) {
          const labelled = ofSetting(f, s, i);
          if (labelled) specs.push(labelled);
        }
      });
    }
  }
  const experiments = [...new Set(runs.map((r) => r.run.experiment))].sort();
  const settingsText = [
    `${settings.length} setting${settings.length === 1 ? '' : 's'} of ${by} (${SOURCE_TEXT[source]}); every claim row, curve and cell is of one setting. A run whose mode does not read a key (joint and an α grid) serves every setting it agrees with.`,
    ...settings.map((s) => `${s.label}: ${s.runs.length} finished run${s.runs.length === 1 ? '' : 's'}`),
  ];
  const map = regime ? regimeMap(regime) : [];
  const answer = regimeAnswer(map);
  return {
    claims, specs, settings, settingsText,
    title: `sps report: ${experiments.join(', ')} by ${by}`,
    heading: `${experiments.join(', ')}: claims, curves and cells by ${by}`,
    allCellsText: renderByTable(byTable, 'text'),
    allCellsMd: renderByTable(byTable, 'markdown'),
    opening: {
      id: 'regime',
      heading: `Regime map: where joint training fails along ${by}, and what recovers it`,
      // The answer in a sentence per task, then the map it summarises.
      html: regime ? answer.map((a) => `<p class="answer">${escapeHtml(a)}</p>\n`).join('') + renderRegimeMapHtml(map) : '',
      md: regime ? answer.map((a) => `${escapeMarkdown(a)}\n\n`).join('') + renderRegimeMapMarkdown(map) : '',
      notes: [...regimeNotes, ...(regime ? REGIME_MAP_LEGEND : [])],
    },
  };
}

/** What a section of a task the paper did not test says first. */
const BEYOND_PAPER_NOTE =
  'The paper does not test this task. Its claims C1–C4 are asked of it by the same rule as of the paper’s three tasks, with the same intervals, norm ratios and α; there are no paper numbers to compare with.';

/** Build the whole report for the runs under `resultsDir` and write it to `options.outDir`. */
export async function writeReport(resultsDir: string, options: ReportOptions): Promise<ReportResult> {
  const { runs } = scanResults(resultsDir, options.experiments);
  const found = options.by ? { keys: [...options.by], source: 'by' as const } : studyKeys(resultsDir, runs);
  const view = found.keys.length > 0 ? studyView(runs, found.keys, found.source, options.paper) : paperView(runs, options.paper);
  if (options.regime) view.answer = regimeAnswerOf(options.regime);
  const staged = stageReport(options.outDir);
  try {
    const result = await buildReport(resultsDir, options, runs, found, view, staged);
    replaceDir(staged, options.outDir);
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
  found: { keys: string[]; source: KeysSource },
  view: View,
  outDir: string,
): Promise<ReportResult> {
  const { claims, specs } = view;

  const tasks = [...new Set(claims.table.cells.filter((c) => c.n > 0).map((c) => c.task))].sort(compareTasks);
  const groups = options.figures;
  const figures: (FigureSpec & { svg: string })[] = [];
  for (const s of specs.filter((x) => groups === undefined || inGroups(x.kind, groups))) figures.push({ ...s, svg: await renderSvg(s.spec) });
  const examples =
    groups === undefined || groups.includes('examples')
      ? [ocrStrip(runs, outDir, options.dataDir), segmentationExamples(runs, outDir, options.dataDir)].filter((e): e is ExampleFigure => e !== null)
      : [];

  const files: string[] = [];
  for (const f of figures) {
    writeFileAtomic(join(outDir, FIGURE_DIR, `${f.id}.svg`), f.svg);
    files.push(`${FIGURE_DIR}/${f.id}.svg`);
  }
  for (const e of examples) files.push(...e.images);

  const totals = claims.table.totals;
  const intro = `Generated by \`sps report\` from ${totals.done} finished runs (${totals.failed} failed, ${totals.unfinished} unfinished, not used) in \`${resultsDir}\`${options.experiments ? ` (experiments ${options.experiments.join(', ')})` : ''}${options.paper ? `, compared with the paper (${PAPER_SOURCE})` : ''}.${options.figures ? ` Figures: ${options.figures.join(', ')} only (\`--figures\`).` : ''}`;
  const summaryLines = claims.summaries.map((s) => `${s.scope === 'all' ? 'Whole table' : beyondPaper(s.scope) ? `${s.scope} (${BEYOND_PAPER})` : s.scope}: ${s.text}.`);
  const taskOrder = [...TASKS, ...tasks.filter(beyondPaper)];

  // HTML
  const html: string[] = [
    '<!doctype html>', '<html lang="en"><head><meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Text of an element: quotes need no escaping there (the paper's title keeps its quotation marks).
    `<title>${escapeHtml(view.title).replaceAll('&quot;', '"')}</title>`, `<style>${STYLE}</style>`, '</head><body>',
    `<h1>${escapeHtml(view.heading)}</h1>`,
    `<p>${escapeHtml(intro).replace(/`([^`]*)`/g, '<code>$1</code>')}</p>`,
    ...(view.settingsText.length > 0 ? [`<p id="settings">${escapeHtml(view.settingsText[0])}</p>`, '<ul class="settings">', ...view.settingsText.slice(1).map((l) => `<li>${escapeHtml(l)}</li>`), '</ul>'] : []),
    ...(view.answer ? ['<h2 id="answer">When does scaling matter?</h2>', ...view.answer.lines.map((l) => `<p class="answer">${escapeHtml(l)}</p>`), `<p class="answer-source">${escapeHtml(view.answer.source)}</p>`] : []),
    `<h2 id="${view.opening.id}">${escapeHtml(view.opening.heading)}</h2>`, view.opening.html, ...(view.opening.notes.length > 0 ? ['<ul>', ...view.opening.notes.map((l) => `<li>${escapeHtml(l)}</li>`), '</ul>'] : []),
    '<h2 id="claims">Claims</h2>', '<ul class="summary">', ...summaryLines.map((l) => `<li>${escapeHtml(l)}</li>`), '</ul>',
    renderClaimsHtml(claims),
    '<h3>How to read the claims table</h3>', '<ul>', ...claimsLegend().map((l) => `<li>${escapeHtml(l)}</li>`), '</ul>',
  ];
  const md: string[] = [
    `# ${escapeMarkdown(view.heading)}`, '', escapeMarkdown(intro.replace(/`/g, '')), '', ...(view.settingsText.length > 0 ? [escapeMarkdown(view.settingsText[0]), '', ...view.settingsText.slice(1).map((l) => `- ${escapeMarkdown(l)}`), ''] : []),
    ...(view.answer ? ['## When does scaling matter?', '', ...view.answer.lines.flatMap((l) => [escapeMarkdown(l), '']), escapeMarkdown(view.answer.source), ''] : []),
    `## ${escapeMarkdown(view.opening.heading)}`, '', view.opening.md, ...view.opening.notes.map((l) => `- ${escapeMarkdown(l)}`), '', '## Claims', '',
    ...summaryLines.map((l) => `- ${escapeMarkdown(l)}`), '', renderClaimsMarkdown(claims), '### How to read the claims table', '', ...claimsLegend().map((l) => `- ${l}`), '',
  ];
  for (const task of taskOrder) {
    const tf = figures.filter((f) => f.task === task);
    const te = examples.filter((e) => (task === 'ocr' ? e.kind === 'ocr-strip' : task === 'segmentation' ? e.kind === 'segmentation' : false));
    if (tf.length === 0 && te.length === 0) continue;
    if (beyondPaper(task)) {
      html.push(`<h2 id="task-${escapeHtml(task)}" class="beyond-paper">${escapeHtml(`${task}: ${BEYOND_PAPER}`)}</h2>`, `<p class="beyond-paper">${escapeHtml(BEYOND_PAPER_NOTE)}</p>`);
      md.push(`## ${escapeMarkdown(`${task}: ${BEYOND_PAPER}`)}`, '', escapeMarkdown(BEYOND_PAPER_NOTE), '');
    } else {
      html.push(`<h2 id="task-${escapeHtml(task)}">${escapeHtml(task)}</h2>`);
      md.push(`## ${escapeMarkdown(task)}`, '');
    }
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
  html.push('<h2 id="table">All cells</h2>', `<pre>${escapeHtml(view.allCellsText)}</pre>`, '</body></html>');
  md.push('## All cells', '', view.allCellsMd);

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
  return { claims, by: { keys: found.keys, source: found.keys.length > 0 ? found.source : null, settings: view.settings.map((x) => x.label) }, figures, examples, files };
}
