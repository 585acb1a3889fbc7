/**
 * `npm run bench -- cells`: the wall time users feel. Times one full-size epoch of one cell per task
 * of the projected table (configs/paper.yaml: OCR, chunking, segmentation) with `sps run … train.epochs=1`,
 * reads the epoch's seconds from the run's metrics.jsonl and the run's own time from run.json, then
 * projects the whole table at `--jobs J` from the table's run count and each run's epochs (its
 * mode's schedule, stage's phases included). With J ≥ 2 it also times J copies of each cell side by
 * side (`sps run --jobs J`) and scales the projection by the slowdown that shows.
 *
 * The plan and the projection are pure (test/bench.test.ts); the timing runs `bin/sps`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { expandGrid } from '../src/config/cells.js';
import { loadExperiment, type LoadedBlock } from '../src/config/load.js';
import { allTasks } from '../src/train/tasks/index.js';
import { modeSpec } from '../src/core/modes.js';
import { packageRoot } from '../src/util/paths.js';

/** One run of the projected table: its task and how many epochs of each kind its schedule has. */
export interface PlannedRun {
  task: string;
  objective: string;
  mode: string;
  seed: number;
  epochs: number;
  /** Epochs by phase kind: 'unary' (stage's unary pre-training), 'pairwise' (unary frozen), 'all'. */
  byKind: Record<string, number>;
}

/** The runs of a loaded experiment, in the sweep's order (block, objective, mode, seed). */
export function planRuns(blocks: readonly LoadedBlock[]): PlannedRun[] {
  return blocks.flatMap((b) =>
    expandGrid(b.experiment).map(({ config: c }) => {
      const byKind: Record<string, number> = {};
      for (const ph of modeSpec(c.mode).phases(c.train)) byKind[ph.params] = (byKind[ph.params] ?? 0) + ph.epochs;
      const epochs = Object.values(byKind).reduce((a, e) => a + e, 0);
      return { task: c.task, objective: c.objective, mode: c.mode, seed: c.seed, epochs, byKind };
    }),
  );
}

/** What one run of a task costs, from the timed cell. */
export interface TaskCost {
  /** Seconds of one epoch (training plus the epoch's validation). */
  epochSeconds: number;
  /** Seconds of a run outside its epochs (data, model, test evaluation): run.json duration − epochs. */
  overheadSeconds: number;
  /** Epoch time with J cells side by side over the epoch time alone (1: no slowdown). */
  slowdown: number;
}

export interface Projection {
  jobs: number;
  runs: number;
  /** Σ of the runs' projected seconds (each at its side-by-side speed). */
  runSeconds: number;
  /** The wall time of the table on `jobs` slots. */
  wallSeconds: number;
  perTask: Record<string, { runs: number; epochs: number; runSeconds: number }>;
}

/**
 * The table's wall time: each run costs overhead + epochs × epoch seconds, times the side-by-side
 * slowdown when jobs > 1; runs start in plan order, each on the slot that frees first (what `sps run
 * --jobs J` does). A run of a task without a cost is an error: the projection would be silently short.
 */
export function projectTable(runs: readonly PlannedRun[], costs: Readonly<Record<string, TaskCost>>, jobs: number): Projection {
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs ${jobs}: give a whole number ≥ 1`);
  const slots = new Array<number>(jobs).fill(0);
  const perTask: Projection['perTask'] = {};
  let runSeconds = 0;
  for (const r of runs) {
    const c = costs[r.task];
    if (!c) throw new Error(`no timed cell for task '${r.task}': time it too (drop --tasks) or project a table without it`);
    const s = (c.overheadSeconds + r.epochs * c.epochSeconds) * (jobs > 1 ? c.slowdown : 1);
    const i = slots.indexOf(Math.min(...slots));
    slots[i] += s;
    runSeconds += s;
    const t = (perTask[r.task] ??= { runs: 0, epochs: 0, runSeconds: 0 });
    t.runs++;
    t.epochs += r.epochs;
    t.runSeconds += s;
  }
  return { jobs, runs: runs.length, runSeconds, wallSeconds: Math.max(...slots), perTask };
}

/** The cell timed for a task: log-likelihood (else cross-entropy, else the first objective), joint, the first seed. */
export function timedCell(b: LoadedBlock): { objective: string; mode: string; seeds: number[] } {
  const e = b.experiment;
  const objective = (['log-likelihood', 'cross-entropy'] as string[]).find((o) => e.objectives.includes(o as never)) ?? e.objectives[0];
  const mode = e.modes.includes('joint') ? 'joint' : e.modes[0];
  const seeds = expandGrid(e).map((c) => c.config.seed);
  return { objective, mode, seeds: [...new Set(seeds)] };
}

export interface RunOutcome {
  epochSeconds: number[];
  durationSeconds: number[];
  wallSeconds: number;
}

/**
 * `sps run FILE overrides --out OUT --jobs J` with the sps of the tree at `root` (default this one;
 * bench/epoch.ts passes another commit's); the epoch and run seconds of every run it finished.
 */
export function runSps(
  file: string,
  overrides: string[],
  out: string,
  jobs: number,
  backend: string,
  root = packageRoot(),
  env: NodeJS.ProcessEnv = process.env,
): RunOutcome {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error(`${join(root, 'bin', 'sps')} needs dist/: build first (npx tsc -p tsconfig.json)`);
  // --no-prepare: a bench must not download; missing data is sps's error naming what to prepare.
  const args = [join(root, 'bin', 'sps'), 'run', file, ...overrides, '--out', out, '--jobs', String(jobs), '--backend', backend, '--no-table', '--no-prepare'];
  process.stderr.write(`  ${args.join(' ')}\n`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: process.cwd(), env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`sps run ${basename(file)} failed (exit ${r.status}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
  const epochSeconds: number[] = [];
  const durationSeconds: number[] = [];
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.name === 'metrics.jsonl') {
        const lines = readFileSync(p, 'utf8').split('\n').filter(Boolean);
        epochSeconds.push(...lines.map((l) => (JSON.parse(l) as { seconds: number }).seconds));
        const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { duration_s?: number };
        durationSeconds.push(run.duration_s ?? NaN);
      }
    }
  };
  walk(out);
  if (epochSeconds.length === 0) throw new Error(`sps run ${basename(file)} finished but wrote no metrics.jsonl under ${out}`);
  return { epochSeconds, durationSeconds, wallSeconds };
}

/** The overrides that reach `task`'s cell: plain ones, and `task:key=value` with the prefix dropped. */
export function overridesFor(task: string, overrides: readonly string[]): string[] {
  return overrides.flatMap((o) => {
    const m = /^([\w-]+):(.*)$/.exec(o);
    return !m ? [o] : m[1] === task ? [m[2]] : [];
  });
}

const mean = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;

export interface CellsOptions {
  jobs: number;
  backend: string;
  /** The table to project (configs/paper.yaml). */
  config: string;
  /** Time and project only these tasks. */
  tasks?: string[];
  /**
   * Overrides of the timed cells, for a quick check of the bench itself (e.g. data.source=sample);
   * `TASK:key=value` applies to that task's cell only. The projection always uses the table's settings.
   */
  overrides: string[];
  parallelCheck: boolean;
}

export interface CellsResult {
  text: string;
  rows: Record<string, unknown>[];
  projection: Projection;
  assumptions: string[];
}

const hours = (s: number): string => `${(s / 3600).toFixed(2)} h`;

/**
 * The task's own experiment file, next to the table's (configs/ocr.yaml for configs/paper.yaml's OCR
 * block); it must be the block the table includes, so the timed cell has the table's settings.
 */
export async function taskFile(config: string, block: LoadedBlock): Promise<string> {
  const file = join(dirname(config), `${block.task.name}.yaml`);
  const where = `${config}: the ${block.task.name} block`;
  if (!existsSync(file)) throw new Error(`${where}: bench cells times each task from its own file, ${file}, which is missing`);
  const own = (await loadExperiment(file, await allTasks())).blocks.find((b) => b.task.name === block.task.name);
  const same =
    own &&
    JSON.stringify(expandGrid(own.experiment).map((c) => ({ ...c.config, experiment: '' }))) ===
      JSON.stringify(expandGrid(block.experiment).map((c) => ({ ...c.config, experiment: '' })));
  if (!same) throw new Error(`${where} differs from ${file}'s cells; bench cells times the task from ${file}, so they must match`);
  return file;
}

export async function runCellsBench(o: CellsOptions): Promise<CellsResult> {
  const config = resolve(o.config);
  const loaded = await loadExperiment(config, await allTasks());
  const blocks = loaded.blocks.filter((b) => !o.tasks || o.tasks.includes(b.task.name));
  const missing = (o.tasks ?? []).filter((t) => !loaded.blocks.some((b) => b.task.name === t));
  if (missing.length) throw new Error(`--tasks: ${missing.join(', ')} not in ${o.config} (its tasks: ${loaded.blocks.map((b) => b.task.name).join(', ')})`);
  const runs = planRuns(blocks);
  const tmp = mkdtempSync(join(tmpdir(), 'sps-bench-cells-'));
  const costs: Record<string, TaskCost> = {};
  const rows: Record<string, unknown>[] = [];
  try {
    for (const b of blocks) {
      const task = b.task.name;
      const file = await taskFile(config, b);
      const cell = timedCell(b);
      const fixed = [`objectives=[${cell.objective}]`, `modes=[${cell.mode}]`, 'train.epochs=1', ...overridesFor(task, o.overrides)];
      process.stderr.write(`${task}: one epoch of ${cell.objective} ${cell.mode}, seed ${cell.seeds[0]}\n`);
      const solo = runSps(file, [...fixed, `seeds=[${cell.seeds[0]}]`], join(tmp, `${task}-solo`), 1, o.backend);
      const epochSeconds = solo.epochSeconds[0];
      const overheadSeconds = Math.max(0, solo.durationSeconds[0] - epochSeconds);
      let slowdown = 1;
      let sideBySide: number[] | undefined;
      if (o.jobs > 1 && o.parallelCheck) {
        const seeds = Array.from({ length: o.jobs }, (_, i) => cell.seeds[0] + i);
        process.stderr.write(`${task}: ${o.jobs} such cells side by side\n`);
        sideBySide = runSps(file, [...fixed, `seeds=[${seeds.join(',')}]`], join(tmp, `${task}-jobs${o.jobs}`), o.jobs, o.backend).epochSeconds;
        slowdown = mean(sideBySide) / epochSeconds;
      }
      costs[task] = { epochSeconds, overheadSeconds, slowdown };
      rows.push({
        task,
        objective: cell.objective,
        mode: cell.mode,
        seed: cell.seeds[0],
        epochSeconds,
        runSeconds: solo.durationSeconds[0],
        overheadSeconds,
        wallSeconds: solo.wallSeconds,
        sideBySideEpochSeconds: sideBySide,
        slowdown,
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const projection = projectTable(runs, costs, o.jobs);
  const assumptions = [
    `Every epoch of a task's runs costs what the timed epoch cost (${rows.map((r) => `${r.task}: ${r.objective} ${r.mode}`).join('; ')}), in every objective and mode: stage's unary-only and pairwise-only epochs, ssvm, mean-field, online's α search after each epoch and offline-reg's extra term are not timed apart.`,
    'An epoch includes its validation; a run adds the time outside its epochs (data, model, test evaluation) from the timed run.json; the start of each cell process is not counted.',
    o.jobs > 1
      ? o.parallelCheck
        ? `${o.jobs} runs side by side slow each other by the factor measured with ${o.jobs} copies of the timed cell (per task); runs start in plan order on the slot that frees first.`
        : `${o.jobs} runs side by side do not slow each other (--no-parallel-check); runs start in plan order on the slot that frees first.`
      : 'One run at a time.',
    'The first epoch of a process may be slower than later ones (wasm compilation, caches): a slight overestimate.',
  ];
  const lines: string[] = [];
  for (const r of rows) {
    const t = projection.perTask[r.task as string];
    lines.push(
      `${String(r.task).padEnd(13)} epoch ${(r.epochSeconds as number).toFixed(1)} s, run overhead ${(r.overheadSeconds as number).toFixed(1)} s` +
        (r.sideBySideEpochSeconds ? `, side by side ×${(r.slowdown as number).toFixed(2)}` : '') +
        `; ${t.runs} runs, ${t.epochs} epochs → ${hours(t.runSeconds)} of runs`,
    );
  }
  const kinds = new Map<string, Map<string, number>>();
  for (const r of runs) {
    const k = kinds.get(r.task) ?? new Map<string, number>();
    for (const [p, e] of Object.entries(r.byKind)) k.set(p, (k.get(p) ?? 0) + e);
    kinds.set(r.task, k);
  }
  const KIND_NAMES: Record<string, string> = { unary: 'unary-only', pairwise: 'pairwise-only', all: 'all-parameter' };
  lines.push(`epochs by phase kind: ${[...kinds].map(([t, k]) => `${t} ${[...k].map(([p, e]) => `${e} ${KIND_NAMES[p] ?? p}`).join(' + ')}`).join('; ')}`);
  lines.push(
    `projected ${basename(o.config)} (${projection.runs} runs${o.tasks ? `, tasks ${blocks.map((b) => b.task.name).join(', ')} only` : ''}) at --jobs ${o.jobs}: ${hours(projection.wallSeconds)} wall, ${hours(projection.runSeconds)} of runs`,
  );
  lines.push('assumptions:', ...assumptions.map((a) => `  - ${a}`));
  return { text: lines.join('\n') + '\n', rows, projection, assumptions };
}
