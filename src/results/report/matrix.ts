import { CLAIMS, type ClaimRow, type ClaimsReport } from './claims.js';
import { BEYOND_PAPER, beyondPaper, escapeHtml, escapeMarkdown, formatInterval } from './claims-render.js';

/**
 * The compact verdict matrix that opens the report: a row per (task, objective), a column per claim
 * C1–C4, each cell the verdict (coloured in HTML) with d and its 95 % interval. The long claims table
 * below it has the rest (n, gap recovered, mode − stage, the paper's side).
 */

interface MatrixRow {
  label: string;
  task: string;
  objective: string;
  cells: (ClaimRow | undefined)[];
}

function matrixRows(c: ClaimsReport): MatrixRow[] {
  const rows = new Map<string, MatrixRow>();
  for (const r of c.rows) {
    const key = `${r.experiment}\u0000${r.task}\u0000${r.objective}`;
    if (!rows.has(key)) {
      const task = c.table.multipleExperiments ? `${r.task} (${r.experiment})` : r.task;
      const label = `${task} / ${r.objective}${beyondPaper(r.task) ? ` (${BEYOND_PAPER})` : ''}`;
      rows.set(key, { label, task: r.task, objective: r.objective, cells: CLAIMS.map(() => undefined) });
    }
    rows.get(key)!.cells[CLAIMS.findIndex((x) => x.id === r.claim)] = r;
  }
  return [...rows.values()];
}

const cellText = (r: ClaimRow | undefined): string => (r === undefined ? '—' : `${r.verdict}: ${formatInterval(r.ours)}`);

export function verdictMatrixHtml(c: ClaimsReport): string {
  const head = `<tr><th>task / objective</th>${CLAIMS.map((x) => `<th title="${escapeHtml(x.text)}">${x.id}: ${escapeHtml(x.id === 'C1' ? 'stage − joint' : `${x.mode} − joint`)}</th>`).join('')}</tr>`;
  const body = matrixRows(c).map((row) => {
    const tds = row.cells.map((r) => {
      const verdict = r?.verdict ?? 'no data';
      return `<td class="verdict ${verdict.replace(' ', '-')}"><b>${escapeHtml(verdict)}</b><br><span class="num">${escapeHtml(r ? formatInterval(r.ours) : '—')}</span></td>`;
    });
    return `<tr data-task="${escapeHtml(row.task)}" data-objective="${escapeHtml(row.objective)}"><th>${escapeHtml(row.label)}</th>${tds.join('')}</tr>`;
  });
  return `<table class="matrix" id="verdict-matrix">\n<thead>${head}</thead>\n<tbody>\n${body.join('\n')}\n</tbody>\n</table>\n`;
}

export function verdictMatrixMarkdown(c: ClaimsReport): string {
  const lines = [`| task / objective | ${CLAIMS.map((x) => `${x.id}: ${x.id === 'C1' ? 'stage − joint' : `${x.mode} − joint`}`).join(' | ')} |`, `| --- | ${CLAIMS.map(() => ':---:').join(' | ')} |`];
  for (const row of matrixRows(c)) lines.push(`| ${escapeMarkdown(row.label)} | ${row.cells.map(cellText).join(' | ')} |`);
  return lines.join('\n') + '\n';
}
