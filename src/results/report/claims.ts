import type { CellStats } from '../group.js';
import { buildTable, type ResultsTable, type TableRow } from '../table.js';
import type { PaperEntry } from '../paper.js';
import type { StoredRun } from '../store.js';
import type { Setting } from '../settings.js';
import { CONFIDENCE, welchInterval, type DiffInterval, type Summary } from '../stats.js';

/**
 * The paper's claims, one row per (task, objective) and claim, with a verdict on our runs.
 * The rule (also printed in the report and in docs/report.md):
 *
 *   C1 "stage beats joint": d = stage − joint.
 *   C2/C3/C4 "online / offline / offline-reg scaling closes the gap": d = mode − joint (better than
 *   joint), and the side check mode − stage ("not worse than stage").
 *
 *   reproduced    the 95 % Welch interval of our d excludes 0 with the sign the paper reports
 *                 (and, for C2–C4, our mode − stage interval is not entirely below 0);
 *   contradicted  our d's interval excludes 0 with the opposite sign, or (C2–C4) the mode is
 *                 significantly worse than stage (its mode − stage interval is entirely below 0);
 *   inconclusive  anything else, including a cell with fewer than 2 finished seeds (no interval).
 *
 * The paper publishes means and stds only; its intervals assume n = PAPER_ASSUMED_N seeds per cell.
 */

export const PAPER_ASSUMED_N = 5;

// The paper's claims name the modes they compare (stage, joint and the three scaling modes): the one
// place in the report that names modes; everything else reads the mode entries (src/core/modes.ts).
export const CLAIMS = [
  { id: 'C1', mode: 'stage', text: 'stage beats joint' },
  { id: 'C2', mode: 'online', text: 'online scaling closes the gap (better than joint, not worse than stage)' },
  { id: 'C3', mode: 'offline', text: 'offline scaling closes the gap (better than joint, not worse than stage)' },
  { id: 'C4', mode: 'offline-reg', text: 'offline-reg scaling closes the gap (better than joint, not worse than stage)' },
] as const;

export type ClaimId = (typeof CLAIMS)[number]['id'];
export type Verdict = 'reproduced' | 'contradicted' | 'inconclusive' | 'no data';
export const VERDICTS: readonly Verdict[] = ['reproduced', 'contradicted', 'inconclusive', 'no data'];

export const VERDICT_RULE = [
  `C1 compares stage with joint (d = stage − joint); C2, C3 and C4 compare online, offline and offline-reg with joint (d = mode − joint) and check that the mode is not worse than stage (mode − stage).`,
  `Interval: ${Math.round(CONFIDENCE * 100)} % Welch t interval for the difference of two means over seeds (unequal variances, Welch–Satterthwaite degrees of freedom; no bootstrap). A cell with fewer than 2 finished seeds has no interval.`,
  `reproduced: our interval for d excludes 0 and d has the sign the paper reports (for C2–C4 also: our mode − stage interval is not entirely below 0).`,
  `contradicted: our interval for d excludes 0 with the opposite sign, or (C2–C4) the mode is significantly worse than stage (mode − stage interval entirely below 0).`,
  `inconclusive: anything else (the interval contains 0, or too few seeds). no data: a needed cell has no finished run.`,
  `The paper publishes mean ± std per cell, not its seed count; its intervals assume n = ${PAPER_ASSUMED_N} seeds per cell (an assumption, not a published number).`,
  `Gap recovered = (mode − joint) / (stage − joint), in % of the stage − joint gap (C2–C4 only).`,
];

export interface ClaimRow {
  experiment: string;
  task: string;
  objective: string;
  claim: ClaimId;
  mode: string;
  /** d (mode − joint) on our seeds, with its interval; null when a cell has no finished run. */
  ours: DiffInterval | null;
  /** mode − stage on our seeds (C2–C4). */
  oursVsStage: DiffInterval | null;
  /** Seeds of the two cells of d. */
  n: { mode: number; joint: number };
  /** (mode − joint)/(stage − joint) in % (C2–C4), ours and the paper's. */
  gapRecovered: number | null;
  paper: DiffInterval | null;
  paperGapRecovered: number | null;
  verdict: Verdict;
  /** In a study's report: the setting (swept values) of the runs the row compares (results/settings.ts). */
  setting?: string;
}

function summaryOf(c: CellStats | undefined): Summary | null {
  if (!c || c.mean === null || c.n === 0) return null;
  return { mean: c.mean, std: c.std ?? 0, n: c.n };
}

function paperSummaryOf(c: CellStats | undefined): Summary | null {
  if (!c || c.paperMean === null) return null;
  return { mean: c.paperMean, std: c.paperStd ?? 0, n: PAPER_ASSUMED_N };
}

function excludesZero(d: DiffInterval): -1 | 0 | 1 {
  if (d.lo === null || d.hi === null) return 0;
  if (d.lo > 0) return 1;
  if (d.hi < 0) return -1;
  return 0;
}

/** The verdict rule above, on d (and, for C2–C4, mode − stage); `expectedSign` is the paper's sign of d. */
export function verdictOf(d: DiffInterval | null, vsStage: DiffInterval | null, expectedSign: 1 | -1): Verdict {
  if (d === null) return 'no data';
  const s = excludesZero(d);
  const worseThanStage = vsStage !== null && excludesZero(vsStage) === -1;
  if (s === -expectedSign || worseThanStage) return 'contradicted';
  if (s === expectedSign) return 'reproduced';
  return 'inconclusive';
}

function gap(mode: number, joint: number, stage: number): number | null {
  const g = stage - joint;
  return g === 0 ? null : (100 * (mode - joint)) / g;
}

/** The claim rows of one table row (task, objective). */
export function claimsOfRow(row: TableRow): ClaimRow[] {
  // The claims' comparisons: each claim's mode against joint, and C2–C4 against stage.
  const joint = row.cells.joint;
  const stage = row.cells.stage;
  return CLAIMS.map((claim) => {
    const cell = row.cells[claim.mode];
    const [m, j, s] = [summaryOf(cell), summaryOf(joint), summaryOf(stage)];
    const [pm, pj, ps] = [paperSummaryOf(cell), paperSummaryOf(joint), paperSummaryOf(stage)];
    const isC1 = claim.id === 'C1';
    const ours = m && j ? welchInterval(m, j) : null;
    const oursVsStage = !isC1 && m && s ? welchInterval(m, s) : null;
    const paper = pm && pj ? welchInterval(pm, pj) : null;
    // The claims are all "better than joint"; the paper's table agrees (a positive d in every row).
    const expectedSign: 1 | -1 = paper && paper.diff < 0 ? -1 : 1;
    return {
      experiment: row.experiment,
      task: row.task,
      objective: row.objective,
      claim: claim.id,
      mode: claim.mode,
      ours,
      oursVsStage,
      n: { mode: cell?.n ?? 0, joint: joint?.n ?? 0 },
      gapRecovered: !isC1 && m && j && s ? gap(m.mean, j.mean, s.mean) : null,
      paper,
      paperGapRecovered: !isC1 && pm && pj && ps ? gap(pm.mean, pj.mean, ps.mean) : null,
      verdict: verdictOf(ours, oursVsStage, expectedSign),
    };
  });
}

export interface ClaimsReport {
  table: ResultsTable;
  rows: ClaimRow[];
  /** "C1 reproduced in 3 of 4 rows, …" per task (and experiment, when several) and for everything. */
  summaries: { scope: string; text: string; counts: Record<ClaimId, Record<Verdict, number>> }[];
}

function countVerdicts(rows: readonly ClaimRow[]): Record<ClaimId, Record<Verdict, number>> {
  const out = {} as Record<ClaimId, Record<Verdict, number>>;
  for (const c of CLAIMS) out[c.id] = { reproduced: 0, contradicted: 0, inconclusive: 0, 'no data': 0 };
  for (const r of rows) out[r.claim][r.verdict] += 1;
  return out;
}

/** "C1 reproduced in 7 of 9 rows (contradicted 1, inconclusive 1); C2 …". */
export function summaryText(counts: Record<ClaimId, Record<Verdict, number>>, claims: readonly { id: ClaimId }[] = CLAIMS): string {
  if (claims.length === 0) return `no claim to check (none of ${CLAIMS.map((c) => c.mode).join(', ')} was run)`;
  return claims.map(({ id }) => {
    const c = counts[id];
    const total = VERDICTS.reduce((s, v) => s + c[v], 0);
    const rest = (['contradicted', 'inconclusive', 'no data'] as const).filter((v) => c[v] > 0).map((v) => `${v} ${c[v]}`);
    return `${id} reproduced in ${c.reproduced} of ${total} row${total === 1 ? '' : 's'}${rest.length > 0 ? ` (${rest.join(', ')})` : ''}`;
  }).join('; ');
}

/** Claims of every (task, objective) row of the runs; with `paper`, also the paper's differences. */
export function buildClaims(runs: readonly StoredRun[], paper?: readonly PaperEntry[]): ClaimsReport {
  const table = buildTable(runs, paper ? { paper } : {});
  const rows = table.rows.flatMap(claimsOfRow);
  const scopes = new Map<string, ClaimRow[]>();
  for (const r of rows) {
    const scope = table.multipleExperiments ? `${r.task} (${r.experiment})` : r.task;
    if (!scopes.has(scope)) scopes.set(scope, []);
    scopes.get(scope)!.push(r);
  }
  const summaries = [...scopes].map(([scope, rs]) => {
    const counts = countVerdicts(rs);
    return { scope, text: summaryText(counts), counts };
  });
  const all = countVerdicts(rows);
  summaries.push({ scope: 'all', text: summaryText(all), counts: all });
  return { table, rows, summaries };
}

/**
 * A study's claims: the claims of each setting's runs (joint and stage compared with the modes of
 * the same setting), each row labelled with its setting; a summary per setting and one for all.
 */
export function buildSettingClaims(settings: readonly Setting[], paper?: readonly PaperEntry[]): ClaimsReport {
  // A claim whose mode the study never ran (C1 in a study of online scaling alone) has no row: it would be "no data" in every setting.
  const ran = new Set(settings.flatMap((s) => s.runs.map((r) => r.run.mode)));
  const parts = settings.map((s) => {
    const claims = buildClaims(s.runs, paper);
    return { s, claims: { ...claims, rows: claims.rows.filter((r) => ran.has(r.mode)) } };
  });
  const rows = parts.flatMap(({ s, claims }) => claims.rows.map((r) => ({ ...r, setting: s.label })));
  const shown = CLAIMS.filter((c) => ran.has(c.mode));
  const summaries = parts.map(({ s, claims }) => {
    const counts = countVerdicts(claims.rows);
    return { scope: s.label, text: summaryText(counts, shown), counts };
  });
  const all = countVerdicts(rows);
  summaries.push({ scope: 'all', text: summaryText(all, shown), counts: all });
  const runs = [...new Set(settings.flatMap((s) => s.runs))];
  return { table: buildTable(runs, paper ? { paper } : {}), rows, summaries };
}
