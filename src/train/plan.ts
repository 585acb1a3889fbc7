/**
 * Planning a sweep, apart from launching it: the sweep.json of each results folder, the data the
 * cells need, the Job each cell runs as, and the plan file that `sps run-cell` reads on a cluster.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { canonicalJson, determiningConfig, type Cell } from '../config/cells.js';
import { checkDataset, ensurePrepared, type EnsureOptions } from '../data/prepare.js';
import { fromFolderHint, getDataset, isImportOnly } from '../data/registry.js';
import { inspectRun, readSweep, runFolderName, RUN_FILES, SWEEP_FILE, type Damage, type RunFolder } from '../results/store.js';
import type { SweepRecord } from '../core/records.js';
import { SpsError } from '../util/errors.js';
import { printable } from '../util/text.js';
import { ensureDir, writeJsonAtomic } from '../util/fsx.js';
import type { Job } from './execute.js';
import { lockHolder, withLock } from './lock.js';
import type { TaskDefinition } from '../core/task.js';
import { datasetRegistry } from './tasks/index.js';

export type CellState = 'done' | 'failed' | 'running' | 'pending';

export interface CellStatus {
  state: CellState;
  /** For pending cells: whether an earlier attempt was interrupted. */
  interrupted: boolean;
  /** For pending cells: the unusable file that makes the run not done (the sweep sets the folder aside). */
  damage?: Damage;
}

export interface PlannedCell extends Cell, CellStatus {
  folder: string;
  runDir: string;
}

/**
 * The state of a run folder: done, failed, running (its lock is held) or pending (absent,
 * interrupted, or damaged). `folder` saves a second read when the caller has inspected it already.
 */
export function cellState(runDir: string, folder?: RunFolder): CellStatus {
  if (!existsSync(runDir)) return { state: 'pending', interrupted: false };
  const f = folder ?? inspectRun(runDir);
  if (f.done) return { state: 'done', interrupted: false };
  if (lockHolder(join(runDir, RUN_FILES.lock))) return { state: 'running', interrupted: false };
  if (f.damage) return { state: 'pending', interrupted: false, damage: f.damage };
  if (f.run?.status === 'failed') return { state: 'failed', interrupted: false };
  return { state: 'pending', interrupted: f.run !== undefined };
}

export function planCells(cells: Cell[], outDir: string): PlannedCell[] {
  return cells.map((c) => {
    const folder = runFolderName({ ...c.config, id: c.id }, c.swept);
    const runDir = join(outDir, folder);
    return { ...c, folder, runDir, ...cellState(runDir) };
  });
}

type SweepCell = SweepRecord['cells'][number];

/** The lock of a folder's sweep.json while a sweep updates it (hidden, so readers skip it). */
export const SWEEP_LOCK = '.sweep.json.lock';

/**
 * The plan of a results folder after this sweep: the cells already planned there, plus this sweep's
 * (a cell planned again keeps its place). A rerun of part of a sweep (other seeds, an override) thus
 * never hides the rest of the plan from `sps ls`. Delete sweep.json to start a plan afresh.
 */
export function mergePlan(old: SweepRecord | undefined, cells: SweepCell[], meta: { experiment: string; configFile: string; now: string }): SweepRecord {
  const byId = new Map<string, SweepCell>();
  for (const c of old?.cells ?? []) byId.set(c.id, c);
  for (const c of cells) byId.set(c.id, c);
  return {
    experiment: meta.experiment,
    config_file: meta.configFile,
    created_at: old?.created_at ?? meta.now,
    updated_at: meta.now,
    cells: [...byId.values()],
  };
}

/** One sweep.json per results folder: every cell planned there by any sweep (`mergePlan`). */
export function writeSweepFiles(planned: PlannedCell[], configFile: string, note: (line: string) => void = () => {}): void {
  const now = new Date().toISOString();
  for (const dir of new Set(planned.map((p) => dirname(p.runDir)))) {
    const here = planned.filter((p) => dirname(p.runDir) === dir);
    const cells = here.map((p) => ({
      id: p.id,
      folder: p.folder,
      task: p.config.task,
      objective: p.config.objective,
      mode: p.config.mode,
      seed: p.config.seed,
      ...(p.swept ? { swept: p.swept } : {}),
    }));
    ensureDir(dir);
    // Read, merge and write under one lock: two sweeps into one folder each add their cells.
    withLock(join(dir, SWEEP_LOCK), join(dir, SWEEP_FILE), () => {
      const { sweep: old, problem } = readSweep(dir);
      // A sweep.json that is there but unusable is worth a word; a folder that cannot be reached at
      // all fails the write below with the path and the cause.
      if (problem && existsSync(join(dir, SWEEP_FILE))) note(`warning: ${problem} (This sweep now writes a new one with its own cells.)`);
      writeJsonAtomic(join(dir, SWEEP_FILE), mergePlan(old, cells, { experiment: here[0].config.experiment, configFile, now }));
    });
  }
}

function taskOf(tasks: readonly TaskDefinition[], name: string): TaskDefinition {
  const t = tasks.find((x) => x.name === name);
  if (!t) throw new Error(`no task definition for '${name}'`);
  return t;
}

/** The sha256 of every file of each verified data set, by data-set name (what run.json records). */
export type DataHashes = Record<string, Record<string, string>>;

/**
 * Make sure every data set the `cells` need is prepared in `dataDir` and matches its checksums (or
 * fail, before any cell, with the command that repairs it); `data` says where missing ones come from.
 * A task's own data sets (a plugin's) are looked up with sps's built-in ones.
 */
export async function prepareCellData(
  tasks: readonly TaskDefinition[],
  cells: PlannedCell[],
  dataDir: string,
  log: (line: string) => void,
  data: Pick<EnsureOptions, 'from' | 'prepare'> = {},
): Promise<DataHashes> {
  const datasets = [...new Set(cells.flatMap((p) => taskOf(tasks, p.config.task).datasets(p.config)))];
  return datasets.length > 0 ? ensurePrepared(datasets, { log, dataDir, registry: datasetRegistry(tasks), ...data }) : {};
}

/**
 * What `sps run --dry-run` says about the data the `cells` need: per data set, prepared here, or
 * where the run would get it; `warnings` name the ones no source can provide (no address, no
 * --data-from, or --no-prepare), each with the command that prepares it. Nothing is fetched.
 */
export async function dataPlan(
  tasks: readonly TaskDefinition[],
  cells: PlannedCell[],
  dataDir: string,
  data: Pick<EnsureOptions, 'from' | 'prepare'> = {},
): Promise<{ lines: string[]; warnings: string[] }> {
  const registry = datasetRegistry(tasks);
  const names = [...new Set(cells.flatMap((p) => taskOf(tasks, p.config.task).datasets(p.config)))];
  const lines: string[] = [];
  const warnings: string[] = [];
  for (const name of names) {
    const spec = getDataset(name, registry);
    const state = await checkDataset(spec, { dataDir });
    if (state.ok) lines.push(`data: ${name}: prepared at ${state.path}`);
    else if (data.prepare === false) warnings.push(`${name} is not prepared and --no-prepare was given; prepare it first: sps prepare ${name}`);
    else if (data.from) lines.push(`data: ${name}: not prepared; the run imports it from ${data.from}`);
    else if (isImportOnly(spec))
      warnings.push(`${name} is not prepared and has no download address; the run would stop. Prepare it from a local folder:\n${fromFolderHint(spec, '  ')}`);
    else lines.push(`data: ${name}: not prepared; the run downloads it first (or: sps prepare ${name})`);
  }
  return { lines, warnings };
}

export interface JobSettings {
  dataDir: string;
  force: boolean;
  command: string;
  /** With `tasks`: each job records the hashes of the data sets its cell reads. */
  dataHashes?: DataHashes;
  tasks?: readonly TaskDefinition[];
}

/**
 * The Job of every planned cell, in order. planned_seeds counts the seeds planned for the cell's
 * setting: its run id's settings without the seed, so that blocks of one file that share a (task,
 * objective, mode) but differ in a setting (a study's variants) count their seeds apart, as swept
 * values do.
 */
export function plannedJobs(planned: PlannedCell[], settings: JobSettings): Job[] {
  const seedsPerGroup = new Map<string, number>();
  const group = (p: PlannedCell): string => canonicalJson({ ...determiningConfig(p.config), seed: null });
  for (const p of planned) seedsPerGroup.set(group(p), (seedsPerGroup.get(group(p)) ?? 0) + 1);
  return planned.map((p) => ({
    id: p.id,
    cell: p.config,
    runDir: p.runDir,
    dataDir: settings.dataDir,
    force: settings.force,
    plannedSeeds: seedsPerGroup.get(group(p)) ?? 1,
    command: settings.command,
    ...(settings.tasks && settings.dataHashes
      ? {
          datasets: Object.fromEntries(
            taskOf(settings.tasks, p.config.task)
              .datasets(p.config)
              .flatMap((d) => (settings.dataHashes![d] ? [[d, settings.dataHashes![d]]] : [])),
          ),
        }
      : {}),
  }));
}

export const PLAN_VERSION = 1;

/** Exit codes of `sps run-cell`; the sbatch script reports `skipped` (already done) to Slurm as success. */
export const RUN_CELL_EXIT = { done: 0, failed: 1, skipped: 3, locked: 4 } as const;

const planSchema = z.object({
  version: z.literal(PLAN_VERSION),
  experiment: z.string(),
  config_file: z.string(),
  created_at: z.string(),
  jobs: z
    .array(
      z.object({
        id: z.string(),
        cell: z.record(z.string(), z.unknown()),
        runDir: z.string(),
        dataDir: z.string(),
        force: z.boolean(),
        plannedSeeds: z.int().min(1),
        command: z.string(),
        datasets: z.record(z.string(), z.record(z.string(), z.string())).optional(),
      }),
    )
    .min(1),
});

/** What `sps run-cell PLAN --index N` reads: every planned cell as the Job a local worker would get. */
export interface PlanFile {
  version: typeof PLAN_VERSION;
  experiment: string;
  config_file: string;
  created_at: string;
  jobs: Job[];
}

export function writePlanFile(path: string, plan: Omit<PlanFile, 'version'>): void {
  writeJsonAtomic(path, { version: PLAN_VERSION, ...plan });
}

export function readPlanFile(path: string): PlanFile {
  if (!existsSync(path)) throw new SpsError(`${path}: no such plan file (sps run --launcher slurm writes it into the results folder)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new SpsError(`${path}: not valid JSON (${printable((e as Error).message)}); submit the sweep again with sps run ... --launcher slurm to rewrite it`);
  }
  const parsed = planSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SpsError(
      `${path}: not an sps plan file (${issue.path.join('.') || 'top level'}: ${issue.message}); submit the sweep again with sps run ... --launcher slurm to rewrite it`,
    );
  }
  // The cells were validated when the sweep was planned; run-cell checks the rest when it runs them.
  return parsed.data as unknown as PlanFile;
}
