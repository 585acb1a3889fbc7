import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { SpsError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fsx.js';
import { buildByTable, validationOf, type ByRow } from '../results/by-table.js';
import { valueAt } from '../results/run-config.js';
import { SELECT_RULE, SELECT_TASK_RULE, selectBest, selectPooled, valuesText, type PooledCandidate, type Selection } from '../results/select.js';
import { fmt2 } from '../results/render.js';
import { parse as parseYaml } from 'yaml';
import { canonicalJson } from '../config/cells.js';
import { ABSENT_MEANS, cellReads } from '../core/constants.js';
import { readMetrics, scanResults, type StoredRun } from '../results/store.js';
import { allTasks } from '../train/tasks/index.js';
import { parseByKeys } from './table.js';

export const SELECTION_FILE = 'selection.json';

export interface SelectOptions {
  by: string;
  metric: string;
  /** `cell` (default): a choice per (task, objective, mode); `task`: one choice per task for all its cells. */
  per?: 'cell' | 'task';
  /** `key=value[,key=value]`: only the runs whose config has these values (e.g. the other swept knobs held at the table's). */
  where?: string;
  /** --per task: choose over the cells there are when some the rule asks for are missing (marked as such). */
  subset?: boolean;
  /** --per task: the objectives each task has (its definition); default: those its runs have. */
  objectivesOf?: (task: string) => readonly string[] | undefined;
}

/**
 * `--where key=value[,key=value]`: each key path with its value as YAML reads it (`1` a number, `noisy`
 * a string, `[0.5, 1, 2]` a list). A comma starts a new pair only where `key=` follows, so a list's
 * commas stay in its value.
 */
export function parseWhere(text: string): [string, unknown][] {
  return text.split(/,(?=\s*[A-Za-z_][A-Za-z0-9_.-]*=)/).map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new SpsError(`--where ${text}: '${part}' is not key=value; give e.g. --where model.unary_scale=1,train.ssvm_maximiser=noisy`);
    const [key] = parseByKeys(part.slice(0, eq).trim(), '--where');
    const value = part.slice(eq + 1).trim();
    try {
      return [key, parseYaml(value) as unknown];
    } catch (e) {
      throw new SpsError(
        `--where ${part}: '${value}' is not a YAML value (${(e as Error).message.split('\n')[0]}); give e.g. train.lr=0.001 or scaling.alpha_grid=[0.5,1,2]`,
      );
    }
  });
}

/**
 * The runs whose config.json has every `where` value (a key stored as absent counts as its default);
 * a run that does not read a key (OBJECTIVE_KEYS, `cellReads`) stays, whatever its config says.
 */
function filterWhere(runs: StoredRun[], where: [string, unknown][], dir: string): StoredRun[] {
  let kept = runs;
  for (const [key, value] of where) {
    const of = (r: StoredRun) => valueAt(r.config, key) ?? ABSENT_MEANS[key];
    const reads = (r: StoredRun) => cellReads({ objective: String(r.config.objective), model: r.config.model }, key);
    if (!runs.some((r) => of(r) !== undefined))
      throw new SpsError(
        `--where ${key}: no run in ${dir} has this key in its config.json; give a key path of the config as the sweep wrote it (e.g. model.unary_scale)`,
      );
    const before = kept;
    kept = kept.filter((r) => !reads(r) || canonicalJson(of(r)) === canonicalJson(value));
    if (!kept.some(reads)) {
      const seen = [...new Set(before.filter(reads).map((r) => canonicalJson(of(r) ?? null)))].sort();
      throw new SpsError(
        `--where ${key}=${JSON.stringify(value)}: no run in ${dir} has that value; ${seen.length ? `the runs have ${key} = ${seen.join(', ')}` : `no run here reads ${key} (only some cells do: ssvm with dropout, for its maximiser)`}`,
      );
    }
  }
  return kept;
}

const stat = (mean: number | null, std: number | null) => (mean === null ? '—' : `${fmt2(mean)} ± ${std === null ? '—' : fmt2(std)}`);

function candidateRecord(keys: string[], r: ByRow) {
  return {
    values: Object.fromEntries(keys.map((k) => [k, r.by[k] ?? null])),
    val_mean: r.val.mean,
    val_std: r.val.std,
    n: r.val.n,
    seeds: r.cell.seeds,
    test_mean: r.cell.mean,
    test_std: r.cell.std,
  };
}

/** `sps select DIR --by KEYS --metric val_…`: the report and the selection.json record; writes nothing. */
export function selectCommand(resultsDir: string, options: SelectOptions): { stdout: string; stderr: string; record: Record<string, unknown> } {
  const keys = parseByKeys(options.by);
  // Refuse a test metric before reading any run: the rule does not depend on what is there.
  if (!options.metric.startsWith('val_')) selectBest({ keys, rows: [], warnings: [] }, options.metric);
  const scanned = scanResults(resultsDir).runs;
  const runs = options.where ? filterWhere(scanned, parseWhere(options.where), resultsDir) : scanned;
  if (!runs.some((r) => r.done))
    throw new SpsError(`No finished runs in ${resultsDir}; nothing to select from. Run the sweep first (sps run CONFIG key=a,b --out ${resultsDir}).`);
  const metrics = [...new Set(runs.filter((r) => r.done).flatMap((r) => Object.keys(validationOf(r, readMetrics))))].sort();
  if (!metrics.includes(options.metric))
    throw new SpsError(
      `--metric ${options.metric}: no finished run in ${resultsDir} has this validation metric; the ones there are: ${metrics.join(', ') || 'none (the runs logged no val_* metric)'}`,
    );
  const table = buildByTable(runs, keys, readMetrics, options.metric);
  if (options.per === 'task') return pooledCommand(resultsDir, keys, options, table);
  const { selections, notes } = selectBest(table, options.metric);
  if (selections.length === 0)
    throw new SpsError(`no run in ${resultsDir} has ${options.metric} together with ${keys.join(', ')}: ${notes.join('; ') || 'nothing to select'}`);
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
function pooledCommand(resultsDir: string, keys: string[], options: SelectOptions, table: ReturnType<typeof buildByTable>): ReturnType<typeof selectCommand> {
  const { metric } = options;
  const { selections, notes } = selectPooled(table, metric, options.objectivesOf);
  if (selections.length === 0)
    throw new SpsError(`no task in ${resultsDir} has ${metric} for every candidate of ${keys.join(', ')}: ${notes.join('; ') || 'nothing to select'}`);
  const short = selections.find((s) => s.missing.length > 0);
  if (short && !options.subset) {
    const shown = short.missing.slice(0, 6).join(', ') + (short.missing.length > 6 ? `, … (${short.missing.length} in all)` : '');
    throw new SpsError(
      `${short.experiment}/${short.task}: --per task chooses over every objective of the task in every mode that reads ${keys.join(', ')} (rule 2 of docs/studies.md), but these cells are missing or did not run every candidate: ${shown}. Run them into ${resultsDir}, or pass --subset to choose over the ${short.cells.length} cells there are (the choice is then marked as made on a subset)`,
    );
  }
  const avg = (x: number | null) => (x === null ? '—' : fmt2(x));
  const candidate = (c: PooledCandidate) => ({
    values: Object.fromEntries(keys.map((k) => [k, c.values[k] ?? null])),
    val_average: c.val,
    test_average: c.test,
    cells: c.rows.map((r) => ({ objective: r.cell.objective, mode: r.cell.mode, val_mean: r.val.mean, test_mean: r.cell.mean, seeds: r.cell.seeds })),
  });
  const out: string[] = [];
  for (const s of selections) {
    out.push(`${s.experiment}/${s.task}, averaged over ${s.cells.length} cell${s.cells.length > 1 ? 's' : ''} (${s.cells.join(', ')}):`);
    if (s.missing.length > 0)
      out.push(
        `  chosen over a subset (--subset): ${s.missing.length} cell${s.missing.length > 1 ? 's' : ''} the rule asks for ${s.missing.length > 1 ? 'are' : 'is'} missing (${s.missing.join(', ')})`,
      );
    for (const c of s.candidates) out.push(`  ${c === s.best ? '*' : ' '} ${valuesText(keys, c.values)}  ${metric} ${avg(c.val)}, test ${avg(c.test)}`);
    out.push(
      `  override: ${valuesText(keys, s.best.values)}${s.tiedWith.length > 0 ? ` (tied with ${s.tiedWith.map((t) => valuesText(keys, t.values)).join('; ')}: the smaller value wins)` : ''}`,
    );
  }
  const record = {
    by: keys,
    metric,
    per: 'task',
    rule: SELECT_TASK_RULE,
    where: options.where ? Object.fromEntries(parseWhere(options.where)) : null,
    created_at: new Date().toISOString(),
    selections: selections.map((s) => ({
      experiment: s.experiment,
      task: s.task,
      override: valuesText(keys, s.best.values),
      cells: s.cells,
      subset: s.missing.length > 0,
      missing: s.missing,
      chosen: candidate(s.best),
      tied_with: s.tiedWith.map((t) => candidate(t).values),
      candidates: s.candidates.map(candidate),
    })),
    notes: [...notes, ...table.warnings],
  };
  return { stdout: out.join('\n') + '\n', stderr: [...notes, ...table.warnings].map((n) => `sps: note: ${n}\n`).join(''), record };
}

export function registerSelect(program: Command): void {
  program
    .command('select')
    .description(
      'for each (task, objective, mode), the swept value with the best mean validation metric over seeds; prints the override and writes selection.json',
    )
    .argument('<results-dir>', 'results directory of a sweep (searched at any depth for run folders)')
    .requiredOption('--by <keys>', 'the swept key(s) to choose, key[,key] (e.g. train.lr)')
    .requiredOption('--metric <name>', 'validation metric to maximise, named val_* (e.g. val_accuracy, val_f1); a test metric is refused')
    .addOption(
      new Option('--per <level>', 'cell: a choice per (task, objective, mode); task: one choice per task for all its cells')
        .choices(['cell', 'task'])
        .default('cell'),
    )
    .option(
      '--where <key=value,...>',
      'only the runs with these config values, e.g. model.unary_scale=1 or scaling.alpha_grid=[0.5,1,2] (the other swept knobs held fixed)',
    )
    .option(
      '--subset',
      'with --per task: choose over the cells there are when some objectives or modes the rule asks for are missing (the choice is marked as made on a subset)',
    )
    .addHelpText('after', `\nRule (--per cell): ${SELECT_RULE}.\nRule (--per task): ${SELECT_TASK_RULE}.\n`)
    .action(async (resultsDir: string, opts: SelectOptions) => {
      const tasks = await allTasks();
      const result = selectCommand(resultsDir, { ...opts, objectivesOf: (name) => tasks.find((t) => t.name === name)?.objectives });
      const file = join(resultsDir, SELECTION_FILE);
      writeJsonAtomic(file, result.record);
      process.stderr.write(result.stderr);
      process.stdout.write(`${result.stdout}(written to ${file})\n`);
    });
}
