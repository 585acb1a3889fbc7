import Table from 'cli-table3';
import { escapeMarkdown } from '../../util/text.js';
import { SpsError } from '../../util/errors.js';
import { fmtDiff } from '../render.js';
import type { DiffInterval } from '../stats.js';
import { CLAIMS, VERDICT_RULE, type ClaimRow, type ClaimsReport } from './claims.js';
import { TASKS } from '../../core/constants.js';

/** A task the paper did not test (the POS task, a plugin's): the report labels it so wherever it names it. */
export const beyondPaper = (task: string): boolean => !(TASKS as readonly string[]).includes(task);
export const BEYOND_PAPER = 'beyond the paper';

/** The claims table as text (`sps table --claims`), Markdown and HTML, with the same columns. */

export const CLAIM_COLUMNS = ['Task', 'Objective', 'Claim', 'Ours: d [95 % CI] (n)', 'Ours: gap recovered', 'Ours: mode − stage [95 % CI]', 'Paper: d [95 % CI, n = 5 assumed]', 'Paper: gap recovered', 'Verdict'] as const;

const DASH = '—';

/** `+1.24 [+0.80, +1.68]`; the point alone when there is no interval. */
export function formatInterval(d: DiffInterval | null): string {
  if (d === null) return DASH;
  if (d.lo === null || d.hi === null) return `${fmtDiff(d.diff)} [no interval]`;
  return `${fmtDiff(d.diff)} [${fmtDiff(d.lo)}, ${fmtDiff(d.hi)}]`;
}

function pct(x: number | null): string {
  return x === null ? DASH : `${Math.round(x)} %`.replace(/^-/, '−');
}

/** The columns of a claims table: CLAIM_COLUMNS, with a `Setting` column after the objective in a study's report. */
export function claimColumns(c: ClaimsReport): string[] {
  return c.rows.some((r) => r.setting !== undefined) ? [...CLAIM_COLUMNS.slice(0, 2), 'Setting', ...CLAIM_COLUMNS.slice(2)] : [...CLAIM_COLUMNS];
}

/** One claim row as display cells, in CLAIM_COLUMNS order (with its setting after the objective, when it has one). */
export function claimCells(r: ClaimRow, multipleExperiments = false): string[] {
  const task = multipleExperiments ? `${r.task} (${r.experiment})` : r.task;
  const claimMode = r.claim === 'C1' ? 'stage − joint' : `${r.mode} − joint`;
  return [
    task,
    r.objective,
    ...(r.setting === undefined ? [] : [r.setting]),
    `${r.claim}: ${claimMode}`,
    r.ours === null ? DASH : `${formatInterval(r.ours)} (${r.n.mode} vs ${r.n.joint})`,
    pct(r.gapRecovered),
    r.claim === 'C1' ? DASH : formatInterval(r.oursVsStage),
    formatInterval(r.paper),
    pct(r.paperGapRecovered),
    r.verdict,
  ];
}

export function claimsLegend(): string[] {
  return [
    `Claims: ${CLAIMS.map((c) => `${c.id} ${c.text}`).join('; ')}.`,
    'd in percentage points of the test metric.',
    ...VERDICT_RULE,
  ];
}

export function renderClaimsText(c: ClaimsReport): string {
  const t = new Table({ head: claimColumns(c), style: { head: [], border: [] } });
  for (const r of c.rows) t.push(claimCells(r, c.table.multipleExperiments));
  const summary = c.summaries.map((s) => `${s.scope === 'all' ? 'All' : s.scope}: ${s.text}.`);
  return ['Claims of the paper, checked on our runs', t.toString(), ...summary, ...claimsLegend()].join('\n') + '\n';
}

/** A cell sps formatted itself (numbers, intervals, verdicts): only `|` could break the table. */
function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function renderClaimsMarkdown(c: ClaimsReport): string {
  const columns = claimColumns(c);
  const [labels, verdict] = [columns.length - 6, columns.length - 1];
  const lines = [`| ${columns.map(mdCell).join(' | ')} |`, `| ${columns.map((_, i) => (i < labels ? '---' : i === verdict ? ':---:' : '---:')).join(' | ')} |`];
  for (const r of c.rows) {
    // The label columns (task, objective, setting) come from run folders and configs: literal text, no
    // Markdown markup; the rest is sps's own formatting.
    const cells = claimCells(r, c.table.multipleExperiments).map((x, i) => (i < labels ? escapeMarkdown(x) : mdCell(x)));
    cells[verdict] = r.verdict === 'reproduced' || r.verdict === 'contradicted' ? `**${cells[verdict]}**` : cells[verdict];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** A string from a run folder or config as literal Markdown text (the one escaper: util/text.ts). */
export { escapeMarkdown };

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderClaimsHtml(c: ClaimsReport): string {
  const columns = claimColumns(c);
  const [labels, verdict] = [columns.length - 6, columns.length - 1];
  const head = `<tr>${columns.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = c.rows
    .map((r) => {
      const cells = claimCells(r, c.table.multipleExperiments).map(escapeHtml);
      const tds = cells.map((s, i) => (i === verdict ? `<td class="verdict ${r.verdict.replace(' ', '-')}">${s}</td>` : `<td${i >= labels ? ' class="num"' : ''}>${s}</td>`));
      const setting = r.setting === undefined ? '' : ` data-setting="${escapeHtml(r.setting)}"`;
      return `<tr data-claim="${r.claim}" data-task="${escapeHtml(r.task)}" data-objective="${escapeHtml(r.objective)}"${setting}>${tds.join('')}</tr>`;
    })
    .join('\n');
  return `<table class="claims" id="claims-table">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>\n`;
}

/** `sps table --claims --format F`: the claims table in text or Markdown. */
export function renderClaims(c: ClaimsReport, format: string): string {
  if (format === 'text') return renderClaimsText(c);
  if (format === 'markdown') {
    const summary = c.summaries.map((s) => `- ${s.scope === 'all' ? 'All' : s.scope}: ${s.text}.`);
    return [renderClaimsMarkdown(c), ...summary, '', ...claimsLegend().map((l) => `- ${l}`)].join('\n') + '\n';
  }
  throw new SpsError(`--claims prints text or markdown, not "${format}"; use --format text or --format markdown (sps report also writes claims.json).`);
}
