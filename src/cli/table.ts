import type { Command } from 'commander';
import { SpsError } from '../util/errors.js';
import { buildByTable } from '../results/by-table.js';
import { buildTable } from '../results/table.js';
import { loadPaperTable, type PaperEntry } from '../results/paper.js';
import { parseFormat, renderByTable, renderTable, TABLE_FORMATS, type TableFormat } from '../results/render.js';
import { readMetrics, scanResults } from '../results/store.js';
import { EXPERIMENT_NAME } from '../core/constants.js';
import { buildClaims } from '../results/report/claims.js';
import { renderClaims } from '../results/report/claims-render.js';

export const COMPARE_TARGETS = ['paper'] as const;

export interface TableOptions {
  format?: string;
  compare?: string;
  /** Print the claims table (verdicts per claim) instead of the cells. */
  claims?: boolean;
  /** `key[,key]`: a row per setting, labelled by these keys' values (a sweep's table). */
  by?: string;
  /** `name[,name]`: only the runs of these experiments. */
  experiment?: string;
}

/** `--by key[,key]` as key paths; a blank or malformed list is an error. */
export function parseByKeys(value: string, option = '--by'): string[] {
  const keys = value.split(',').map((k) => k.trim());
  const bad = keys.find((k) => !/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/.test(k));
  if (bad !== undefined)
    throw new SpsError(
      `${option} ${value}: ${bad === '' ? 'an empty key' : `'${bad}' is not a key path`}; give key paths separated by commas, e.g. ${option} train.lr,scaling.alpha`,
    );
  const twice = keys.find((k, i) => keys.indexOf(k) !== i);
  if (twice) throw new SpsError(`${option} ${value}: ${twice} is given twice`);
  return keys;
}

export interface TableOutput {
  /** What goes to stdout (the table, or the note that there is nothing to tabulate). */
  stdout: string;
  /** What goes to stderr (warnings, for the machine-readable formats, which keep them out of stdout). */
  stderr: string;
}

export interface TableIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** The paper's table; defaults to the shipped reference/paper-table.csv. */
  loadPaper?: () => PaperEntry[];
}

export function parseCompare(value: string | undefined): 'paper' | undefined {
  if (value === undefined) return undefined;
  if ((COMPARE_TARGETS as readonly string[]).includes(value)) return value as 'paper';
  throw new SpsError(`unknown --compare target "${value}": use one of ${COMPARE_TARGETS.join(', ')}.`);
}

export const EXPERIMENT_HELP =
  'only the runs of these experiments (config names, name[,name]), e.g. ocr,chunking,segmentation to leave out studies kept in the same folder';

/** `--experiment name[,name]` as experiment names (config `name`s); a blank or malformed list is an error. */
export function parseExperiments(value: string): string[] {
  const names = value.split(',').map((n) => n.trim());
  const bad = names.find((n) => !EXPERIMENT_NAME.test(n));
  if (bad !== undefined)
    throw new SpsError(
      `--experiment ${value}: ${bad === '' ? 'an empty name' : `'${bad}' is not an experiment name`}; give config names separated by commas, e.g. --experiment ocr,chunking,segmentation`,
    );
  return [...new Set(names)];
}

/** `sps table DIR`: everything except writing the output. Throws SpsError for bad options or a missing dir. */
export function tableCommand(resultsDir: string, options: TableOptions = {}, loadPaper: () => PaperEntry[] = loadPaperTable): TableOutput {
  const format: TableFormat = parseFormat(options.format ?? 'text');
  const compare = parseCompare(options.compare);
  const { runs, unreadable, incomplete } = scanResults(resultsDir, options.experiment === undefined ? undefined : parseExperiments(options.experiment));
  if (options.by !== undefined) {
    if (options.claims || compare) throw new SpsError('--by cannot be combined with --claims or --compare: the paper has no rows for swept settings');
    const keys = parseByKeys(options.by);
    if (!runs.some((r) => r.done)) {
      const note = `No finished runs in ${resultsDir}; nothing to tabulate.\n`;
      return format === 'csv' || format === 'json'
        ? { stdout: renderByTable({ keys, rows: [], warnings: [] }, format), stderr: note }
        : { stdout: note, stderr: '' };
    }
    const t = buildByTable(runs, keys, readMetrics);
    return { stdout: renderByTable(t, format), stderr: format === 'csv' || format === 'json' ? t.warnings.map((w) => `sps: warning: ${w}\n`).join('') : '' };
  }
  if (options.claims) return { stdout: renderClaims(buildClaims(runs, compare === 'paper' ? loadPaper() : undefined), format), stderr: '' };
  const table = buildTable(runs, { ...(compare === 'paper' ? { paper: loadPaper() } : {}), unreadable, incomplete });
  const warnings = table.warnings.map((w) => `sps: warning: ${w}\n`).join('');
  if (table.totals.done === 0) {
    const { runs: n, failed, unfinished, damaged } = table.totals;
    const found = n === 0 ? 'no run folders' : `${n} run folder${n === 1 ? '' : 's'}: ${failed} failed, ${unfinished} unfinished, ${damaged} damaged`;
    const note = `No finished runs in ${resultsDir} (${found}); nothing to tabulate. A run counts once run.json says done and final.json validates.\n${warnings}`;
    // csv/json stay parseable: an empty result on stdout, the note on stderr.
    if (format === 'csv' || format === 'json') return { stdout: renderTable(table, format), stderr: note };
    return { stdout: note, stderr: '' };
  }
  return { stdout: renderTable(table, format), stderr: format === 'csv' || format === 'json' ? warnings : '' };
}

export function registerTable(program: Command, io?: Partial<TableIo>): void {
  const out = io?.out ?? ((s: string) => void process.stdout.write(s));
  const err = io?.err ?? ((s: string) => void process.stderr.write(s));
  program
    .command('table')
    .description("aggregate finished runs into the paper's table: mean ± sample std (n) over seeds per (task, objective, mode)")
    .argument('<results-dir>', 'results directory (searched at any depth for run folders)')
    .option('--format <format>', `output format: ${TABLE_FORMATS.join(', ')}`, 'text')
    .option('--compare <target>', `also show the published numbers and ours − paper: ${COMPARE_TARGETS.join(', ')}`)
    .option(
      '--by <keys>',
      'a row per setting, labelled by these swept keys (key[,key], e.g. train.lr), with the test metric and the final validation metric over seeds (formats text, markdown, csv, json)',
    )
    .option('--claims', "print the paper's claims with our differences, 95 % Welch intervals and verdicts, as in sps report (formats text and markdown)")
    .option('--experiment <names>', EXPERIMENT_HELP)
    .action((resultsDir: string, opts: TableOptions) => {
      const result = tableCommand(resultsDir, opts, io?.loadPaper);
      if (result.stderr !== '') err(result.stderr);
      out(result.stdout);
    });
}
