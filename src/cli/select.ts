import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { SpsError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fsx.js';
import { buildByTable, SELECT_RULE, SELECT_TASK_RULE, selectBest, selectPooled, validationOf, valuesText, type ByRow, type PooledCandidate, type Selection } from '../results/aggregate.js';
import { fmt2 } from '../results/render.js';
import { readMetrics, scanResults } from '../results/store.js';
import { parseByKeys } from './table.js';

export const SELECTION_FILE = 'selection.json';

export interface SelectOptions {
  by: string;
  metric: string;
  /** `cell` (default): a choice per (task, objective, mode); `task`: one choice per task for all its cells. */
  per?: 'cell' | 'task';
}

const stat = (mean: number | null, std: number | null) => (mean === null ? '—' : `${fmt2(mean)} ± ${std === null ? '—' : fmt2(std)}`);

function candidateRecord(keys: string[], r: ByRow) {
  return { values: Object.fromEntries(keys.map((k) => [k, r.by[k] ?? null])), val_mean: r.val.mean, val_std: r.val.std, n: r.val.n, seeds: r.cell.seeds, test_mean: r.cell.mean, test_std: r.cell.std };
}

/** `sps select DIR --by KEYS --metric val_…`: the report and the selection.json record; writes nothing. */
export function selectCommand(resultsDir: string, options: SelectOptions): { stdout: string; stderr: string; record: Record<string, unknown> } {
  const keys = parseByKeys(options.by);
  // Refuse a test metric before reading any run: the rule does not depend on what is there.
  if (!options.metric.startsWith('val_')) selectBest({ keys, rows: [], warnings: [] }, options.metric);
  const { runs } = scanResults(resultsDir);
  if (!runs.some((r) => r.done)) throw new SpsError(`No finished runs in ${resultsDir}; nothing to select from. Run the sweep first (sps run CONFIG key=a,b --out ${resultsDir}).`);
  const metrics = [...new Set(runs.filter((r) => r.done).flatMap((r) => Object.keys(validationOf(r, readMetrics))))].sort();
  if (!metrics.includes(options.metric)) throw new SpsError(`--metric ${options.metric}: no finished run in ${resultsDir} has this validation metric; the ones there are: ${metrics.join(', ') || 'none (the runs logged no val_* metric)'}`);
  const table = buildByTable(runs, keys, readMetrics, options.metric);
  if (options.per === 'task') return pooledCommand(resultsDir, keys, options.metric, table);
  const { selections, notes } = selectBest(table, options.metric);
  if (selections.length === 0) throw new SpsError(`no run in ${resultsDir} has ${options.metric} together with ${keys.join(', ')}: ${notes.join('; ') || 'nothing to select'}`);
  const line = (s: Selection) => {
    const r = s.row;
    const tie = s.tiedWith.length > 0 ? ` (tied with ${s.tiedWith.map((t) => valuesText(keys, t.by)).join('; ')}: the smaller value wins)` : '';
    return `${s.experiment}/${s.task}/${s.objective}/${s.mode}: ${valuesText(keys, s.values)}  ${options.metric} ${stat(r.val.mean, r.val.std)} (${r.val.n} seeds), test ${r.cell.metric} ${stat(r.cell.mean, r.cell.std)}${tie}`;
  };
  const overrides = [...new Set(selections.map((s) => valuesText(keys, s.values)))];
  const out = [
    ...selections.map(line),
    '',
    overrides.length === 1 ? `override: ${overrides[0]}` : `The cells chose differently: use each line's values as the overrides of that cell's block.`,
  ];
  const record = {
    by: keys,
    metric: options.metric,
    rule: SELECT_RULE,
    created_at: new Date().toISOString(),
    override: overrides.length === 1 ? overrides[0] : null,
    selections: selections.map((s) => ({
      experiment: s.experiment,
      task: s.task,
      objective: s.objective,
      mode: s.mode,
      override: valuesText(keys, s.values),
      val_metric: options.metric,
      test_metric: s.row.cell.metric,
      ...candidateRecord(keys, s.row),
      tied_with: s.tiedWith.map((t) => candidateRecord(keys, t).values),
      candidates: s.candidates.map((c) => candidateRecord(keys, c)),
    })),
    notes: [...notes, ...table.warnings],
  };
  return { stdout: out.join('\n') + '\n', stderr: [...notes, ...table.warnings].map((n) => `sps: note: ${n}\n`).join(''), record };
}

/** `sps select --per task`: one choice per task, averaged over its cells (SELECT_TASK_RULE). */
function pooledCommand(resultsDir: string, keys: string[], metric: string, table: ReturnType<typeof buildByTable>): ReturnType<typeof selectCommand> {
  const { selections, notes } = selectPooled(table, metric);
  if (selections.length === 0) throw new SpsError(`no task in ${resultsDir} has ${metric} for every candidate of ${keys.join(', ')}: ${notes.join('; ') || 'nothing to select'}`);
  const avg = (x: number | null) => (x === null ? '—' : fmt2(x));
  const candidate = (c: PooledCandidate) => ({ values: Object.fromEntries(keys.map((k) => [k, c.values[k] ?? null])), val_average: c.val, test_average: c.test, cells: c.rows.map((r) => ({ objective: r.cell.objective, mode: r.cell.mode, val_mean: r.val.mean, test_mean: r.cell.mean, seeds: r.cell.seeds })) });
  const out: string[] = [];
  for (const s of selections) {
    out.push(`${s.experiment}/${s.task}, averaged over ${s.cells.length} cell${s.cells.length > 1 ? 's' : ''} (${s.cells.join(', ')}):`);
    for (const c of s.candidates) out.push(`  ${c === s.best ? '*' : ' '} ${valuesText(keys, c.values)}  ${metric} ${avg(c.val)}, test ${avg(c.test)}`);
    out.push(`  override: ${valuesText(keys, s.best.values)}${s.tiedWith.length > 0 ? ` (tied with ${s.tiedWith.map((t) => valuesText(keys, t.values)).join('; ')}: the smaller value wins)` : ''}`);
  }
  const record = {
    by: keys,
    metric,
    per: 'task',
    rule: SELECT_TASK_RULE,
    created_at: new Date().toISOString(),
    selections: selections.map((s) => ({ experiment: s.experiment, task: s.task, override: valuesText(keys, s.best.values), cells: s.cells, chosen: candidate(s.best), tied_with: s.tiedWith.map((t) => candidate(t).values), candidates: s.candidates.map(candidate) })),
    notes: [...notes, ...table.warnings],
  };
  return { stdout: out.join('\n') + '\n', stderr: [...notes, ...table.warnings].map((n) => `sps: note: ${n}\n`).join(''), record };
}

export function registerSelect(program: Command): void {
  program
    .command('select')
    .description('for each (task, objective, mode), the swept value with the best mean validation metric over seeds; prints the override and writes selection.json')
    .argument('<results-dir>', 'results directory of a sweep (searched at any depth for run folders)')
    .requiredOption('--by <keys>', 'the swept key(s) to choose, key[,key] (e.g. train.lr)')
    .requiredOption('--metric <name>', 'validation metric to maximise, named val_* (e.g. val_accuracy, val_f1); a test metric is refused')
    .addOption(new Option('--per <level>', 'cell: a choice per (task, objective, mode); task: one choice per task for all its cells').choices(['cell', 'task']).default('cell'))
    .addHelpText('after', `\nRule (--per cell): ${SELECT_RULE}.\nRule (--per task): ${SELECT_TASK_RULE}.\n`)
    .action((resultsDir: string, opts: SelectOptions) => {
      const result = selectCommand(resultsDir, opts);
      const file = join(resultsDir, SELECTION_FILE);
      writeJsonAtomic(file, result.record);
      process.stderr.write(result.stderr);
      process.stdout.write(`${result.stdout}(written to ${file})\n`);
    });
}
