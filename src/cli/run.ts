import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { expandSweep } from '../config/cells.js';
import { BACKENDS, type BackendChoice } from '../core/constants.js';
import { loadExperiment, type LoadedExperiment } from '../config/load.js';
import { backendFromEnv, backendUnavailable, expectedBackend } from '../backend/select.js';
import { dataPlan, planCells, type PlannedCell } from '../train/plan.js';
import { allTasks } from '../train/tasks/index.js';
import { LAUNCHERS, loadLauncher, type LauncherName } from '../train/launchers/index.js';
import { checkSlurmOptions, parseLauncherSection, type SlurmSettings } from '../train/launchers/settings.js';
import { datasetsDir, folderOption } from '../util/paths.js';
import { SpsError } from '../util/errors.js';
import { makeReporter } from './progress.js';
import { renderPlan, sweptKeysOf } from './ls.js';
import { buildByTable } from '../results/by-table.js';
import { buildTable } from '../results/table.js';
import { renderByTable, renderTable } from '../results/render.js';
import { inspectRun, readMetrics, scanResults, type StoredRun } from '../results/store.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

/**
 * Before the first cell: the back end each planned cell will run on, and a note for every results
 * folder that already holds finished runs made on another one (back ends agree only to rounding;
 * `sps table` marks cells that mix them).
 */
function backendLines(toRun: PlannedCell[], outDirs: string[]): string[] {
  const names = new Set<string>();
  const lines: string[] = [];
  for (const choice of new Set(toRun.map((p) => p.config.backend as BackendChoice))) {
    const b = expectedBackend(choice);
    names.add(b.name);
    lines.push(`sps: back end: ${b.name} (${b.why})`);
  }
  if (names.size === 0) return lines;
  for (const dir of new Set(outDirs)) {
    // A folder that is not there yet, or not a folder: the sweep itself says what is wrong with it.
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    const others = new Map<string, number>();
    let runs: StoredRun[];
    try {
      runs = scanResults(dir).runs;
    } catch {
      continue;
    }
    for (const r of runs) {
      const name = r.done ? r.run.backend?.name : undefined;
      if (name && !names.has(name)) others.set(name, (others.get(name) ?? 0) + 1);
    }
    if (others.size > 0) {
      const held = [...others].map(([n, k]) => `${k} on ${n}`).join(', ');
      lines.push(
        `sps: note: ${dir} already holds finished runs made on another back end (${held}); this sweep runs on ${[...names].join(', ')}. Cells that mix back ends are marked ‡ by sps table.`,
      );
    }
  }
  return lines;
}

/** Where missing data sets come from: --data-from (or $SPS_DATA_FROM), else a download; none with --no-prepare. */
const dataSource = (opts: RunOptions) => ({ from: opts.dataFrom ?? (process.env.SPS_DATA_FROM || undefined), prepare: opts.prepare !== false });

interface RunOptions {
  dryRun?: boolean;
  force?: boolean;
  jobs: number;
  failFast?: boolean;
  out?: string;
  backend?: BackendChoice;
  /** false with --no-table. */
  table?: boolean;
  dataFrom?: string;
  /** false with --no-prepare. */
  prepare?: boolean;
  launcher?: LauncherName;
  partition?: string;
  time?: string;
  cpusPerTask?: number;
  mem?: string;
  arrayThrottle?: number;
  sbatchArg?: string[];
  setup?: string;
  /** `-m`/`--multirun`, Hydra's switch: sps sweeps on `key=a,b` alone, so it changes nothing. */
  multirun?: boolean;
}

/** Slurm settings: the config's `launcher:` section, each overridden by its command-line option. */
function slurmSettings(section: SlurmSettings, o: RunOptions): SlurmSettings {
  const given = {
    partition: o.partition,
    time: o.time,
    cpus_per_task: o.cpusPerTask,
    mem: o.mem,
    throttle: o.arrayThrottle,
    sbatch_args: o.sbatchArg,
    setup: o.setup,
  };
  const cli = checkSlurmOptions(Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)));
  return { ...section, ...cli };
}

/**
 * Where each block's runs go. A file of one block: `out` (default results/<name>). A file with
 * several blocks: a block written in the file goes to <out>/<task> (default results/<name>/<task>);
 * an included block goes where its own file puts it, under <out> instead of results/ when given
 * (results/ocr for ocr.yaml), so that finished runs are shared.
 */
export function blockOutDirs(out: string | undefined, loaded: Pick<LoadedExperiment, 'name' | 'blocks'>): string[] {
  const { name, blocks } = loaded;
  if (blocks.length === 1 && blocks[0].included === undefined) return [resolve(out ?? join('results', name))];
  return blocks.map((b) => (b.included !== undefined ? resolve(out ?? 'results', ...b.included) : resolve(out ?? join('results', name), b.experiment.task)));
}

/** The first line of a failure: a worker that crashed reports its whole stack, which run.json keeps. */
function failureLine(detail = ''): string {
  const [first, ...rest] = detail.trim().split('\n');
  return rest.length > 0 ? `${first} …` : first;
}

/**
 * Where the whole story of a failed cell is: its log, else its run.json, when this attempt wrote
 * them (run.json names the run and says failed); else nowhere on disk. The files of an earlier run
 * still in the folder (a damaged one that could not be moved) tell another story.
 */
function failureRecord(runDir: string, id: string): string {
  const run = inspectRun(runDir).run;
  if (run?.id === id && run.status === 'failed') for (const f of ['log.txt', 'run.json']) if (existsSync(join(runDir, f))) return `see ${join(runDir, f)}`;
  return `(the cell failed before writing anything in ${runDir}; the message above is all there is)`;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run every cell (objective × mode × seed) of an experiment; finished cells are skipped, so rerunning resumes')
    .argument('<config>', 'experiment file (YAML)')
    .argument('[overrides...]', 'key.path=value overrides typed by the schema, e.g. train.epochs=3 seeds=[0,1]; key=a,b,c sweeps the key over those values')
    .option('--dry-run', 'print the planned cells and how many are already done, run nothing')
    .option('-m, --multirun', 'accepted for Hydra users and ignored: key=a,b,c alone sweeps')
    .option('--force', 'redo finished cells too (the old runs are kept under <out>/.replaced/)')
    .option('-j, --jobs <n>', 'cells run at once, each in its own process', positiveInt, availableParallelism())
    .option('--fail-fast', 'stop at the first failed cell')
    .option(
      '--out <dir>',
      'results directory (default: results/<experiment name>); in a file with blocks, each block gets a folder inside it (see the README)',
      folderOption('--out'),
    )
    .option(
      '--data-from <dir>',
      'import missing data sets from this folder (as `sps prepare NAME --from DIR`) instead of downloading them (default: $SPS_DATA_FROM)',
    )
    .option('--no-prepare', 'never download or import data: a missing data set is an error')
    .option('--no-table', 'do not print the table of the planned cells at the end')
    .addOption(new Option('--backend <name>', 'tfjs back end (overrides SPS_BACKEND and the config)').choices([...BACKENDS]))
    .addOption(
      new Option('--launcher <name>', "where cells run: local processes, or a Slurm job array (default: the config's launcher.type, else local)").choices([
        ...LAUNCHERS,
      ]),
    )
    .option('--partition <name>', 'slurm: partition (launcher.partition)')
    .option('--time <limit>', 'slurm: time limit per cell, e.g. 2:00:00 (launcher.time)')
    .option('--cpus-per-task <n>', 'slurm: CPUs per cell (launcher.cpus_per_task)', positiveInt)
    .option('--mem <size>', 'slurm: memory per cell, e.g. 4G (launcher.mem)')
    .option('--array-throttle <m>', 'slurm: at most M cells at once, the %M of --array (launcher.throttle)', positiveInt)
    .option('--sbatch-arg <arg>', 'slurm: an extra sbatch argument, repeatable (launcher.sbatch_args)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--setup <line>', 'slurm: a shell line run before each cell, e.g. "module load nodejs" (launcher.setup)')
    .addHelpText(
      'after',
      '\nExamples:\n  sps run configs/smoke.yaml --dry-run\n  sps run configs/ocr.yaml train.epochs=3 seeds=[0,1] --jobs 2\n  sps run configs/smoke.yaml train.lr=0.001,0.01 --out results/my-lr   # a sweep: one setting per value\n  sps run configs/paper.yaml --launcher slurm --partition cpu --time 4:00:00 --dry-run\n',
    )
    .action(async (configFile: string, overrides: string[], opts: RunOptions) => {
      const loaded = await loadExperiment(configFile, await allTasks(), overrides);
      if (opts.multirun)
        process.stderr.write(
          `sps: note: -m/--multirun changes nothing in sps: an override key=a,b,c sweeps by itself${loaded.sweepKeys.length > 0 ? ` (this run sweeps ${loaded.sweepKeys.join(', ')})` : ' (this run sweeps nothing)'}\n`,
        );
      for (const n of loaded.notes) process.stderr.write(`sps: note: ${n}\n`);
      const backend = opts.backend ?? backendFromEnv();
      const outDirs = blockOutDirs(opts.out, loaded);
      const all = loaded.blocks.flatMap(({ experiment, variants }, i) =>
        planCells(
          expandSweep((variants ?? [{ experiment }]).map((v) => ({ ...v, experiment: backend ? { ...v.experiment, backend } : v.experiment }))),
          outDirs[i],
        ),
      );
      // Blocks may overlap (the same cell listed twice): each run id runs once.
      const planned = all.filter((c, i) => all.findIndex((d) => d.id === c.id) === i);
      const where = [...new Set(outDirs)].join(', ');
      const section = parseLauncherSection(loaded.launcher, configFile);
      const launcherName = opts.launcher ?? section.type ?? 'local';

      if (opts.dryRun && launcherName === 'local') {
        process.stdout.write(renderPlan(planned));
        const done = planned.filter((p) => p.state === 'done').length;
        process.stdout.write(
          `\n${planned.length} cells planned in ${where}: ${done} already done, ${planned.length - done} to run${opts.force ? ' (--force: all would be redone)' : ''}\n`,
        );
        const keys = sweptKeysOf(planned);
        if (planned.some((p) => keys.some((k) => p.swept?.[k] === undefined)))
          process.stdout.write(`— under ${keys.join(', ')}: the cell's mode does not read that key, so one cell serves every value of it\n`);
        const data = await dataPlan(
          loaded.blocks.map((b) => b.task),
          planned.filter((p) => opts.force || p.state !== 'done'),
          datasetsDir(),
          dataSource(opts),
        );
        for (const l of data.lines) process.stdout.write(`${l}\n`);
        for (const w of data.warnings) process.stderr.write(`sps: warning: ${w}\n`);
        return;
      }
      // A back end that cannot be had would fail every cell the same way: say so once, up front.
      const toRun = planned.filter((p) => opts.force || p.state !== 'done');
      for (const choice of opts.dryRun ? [] : new Set(toRun.map((p) => p.config.backend as BackendChoice))) {
        const why = backendUnavailable(choice);
        if (why) throw new SpsError(`${why} No cell was started.`);
      }
      for (const line of backendLines(toRun, outDirs)) process.stderr.write(`${line}\n`);
      const launcher = await loadLauncher(launcherName);
      const result = await launcher.launch({
        experiment: loaded.name,
        tasks: loaded.blocks.map((b) => b.task),
        planned,
        outDirs,
        sweep: {
          dataDir: datasetsDir(),
          jobs: opts.jobs,
          force: !!opts.force,
          failFast: !!opts.failFast,
          configFile: resolve(configFile),
          command: ['sps', ...process.argv.slice(2)].join(' '),
          data: dataSource(opts),
        },
        makeReporter,
        dryRun: !!opts.dryRun,
        slurm: slurmSettings(section, opts),
      });
      if (result.kind === 'submitted') return;
      const outcomes = result.outcomes;
      const count = (r: string) => outcomes.filter((o) => o.result === r).length;
      const failures = outcomes.filter((o) => o.result === 'failed');
      const locked = outcomes.filter((o) => o.result === 'locked');
      process.stderr.write(
        `\nsweep ${loaded.name}: ${count('done')} done now, ${count('skipped')} already done, ${failures.length} failed, ${locked.length} running elsewhere, ${count('interrupted')} interrupted (results in ${where})\n`,
      );
      // The planned cells' table, so a run ends with its numbers (`sps table DIR` shows the same later):
      // for a sweep, `sps table DIR --by KEYS`, a row per setting labelled by its values. Unfinished
      // runs are in it too, so that their cells say "none finished" rather than nothing.
      if (opts.table !== false) {
        const runs = planned.map((c) => inspectRun(c.runDir)).filter((f): f is StoredRun => f.run !== undefined && f.config !== undefined);
        if (runs.some((r) => r.done)) {
          process.stdout.write(
            `\n${loaded.sweepKeys.length > 0 ? renderByTable(buildByTable(runs, loaded.sweepKeys, readMetrics), 'text') : renderTable(buildTable(runs), 'text')}`,
          );
        }
      }
      for (const o of locked)
        process.stderr.write(`  running elsewhere: ${o.cell.folder}: ${o.detail} (if that process is gone, delete ${o.cell.runDir}/.lock)\n`);
      for (const o of failures) process.stderr.write(`  FAILED ${o.cell.folder}: ${failureLine(o.detail)}\n    ${failureRecord(o.cell.runDir, o.cell.id)}\n`);
      if (failures.length > 0)
        throw new SpsError(
          `${failures.length} cell${failures.length > 1 ? 's' : ''} failed; fix the cause and run the same command again (finished cells are kept)`,
        );
      if (count('interrupted') > 0) throw new SpsError('the sweep was interrupted; run the same command again to finish it', 130);
    });
}
