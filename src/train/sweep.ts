import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cell } from '../config/cells.js';
import { ensurePrepared } from '../data/prepare.js';
import { inspectRun, isDone, readSweep, REPLACED_DIR, runFolderName, RUN_FILES, SWEEP_FILE, type Damage, type RunFolder } from '../results/store.js';
import type { RunRecord, SweepRecord } from '../results/types.js';
import { writeJsonAtomic } from '../util/fsx.js';
import type { Job, WorkerEvent } from './execute.js';
import { lockHolder } from './lock.js';
import type { TaskDefinition } from './task.js';

export type CellState = 'done' | 'failed' | 'running' | 'pending';

/** Exit code of a sweep that left cells to another process still running them (EX_TEMPFAIL: try again later). */
export const EXIT_RUNNING_ELSEWHERE = 75;

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

/** Close a run its worker could not close (it died, or was stopped): run.json tells what happened. */
function recordEnd(runDir: string, status: 'failed' | 'interrupted', message: string): void {
  const { run, damage } = inspectRun(runDir);
  if (damage || run?.status !== 'running' || lockHolder(join(runDir, RUN_FILES.lock))) return;
  const ended = new Date();
  const record: RunRecord = { ...run, status, ended_at: ended.toISOString(), duration_s: (ended.getTime() - Date.parse(run.started_at)) / 1000, error: { message } };
  writeJsonAtomic(join(runDir, RUN_FILES.run), record);
}

export function planCells(cells: Cell[], outDir: string): PlannedCell[] {
  return cells.map((c) => {
    const folder = runFolderName({ ...c.config, id: c.id });
    const runDir = join(outDir, folder);
    return { ...c, folder, runDir, ...cellState(runDir) };
  });
}

type SweepCell = SweepRecord['cells'][number];

/**
 * The plan of a results folder after this sweep: the cells already planned there, plus this sweep's
 * (a cell planned again keeps its place). A rerun of part of a sweep (other seeds, an override) thus
 * never hides the rest of the plan from `sps ls`. Delete sweep.json to start a plan afresh.
 */
export function mergePlan(old: SweepRecord | undefined, cells: SweepCell[], meta: { experiment: string; configFile: string; now: string }): SweepRecord {
  const byId = new Map<string, SweepCell>();
  for (const c of old?.cells ?? []) byId.set(c.id, c);
  for (const c of cells) byId.set(c.id, c);
  return { experiment: meta.experiment, config_file: meta.configFile, created_at: old?.created_at ?? meta.now, updated_at: meta.now, cells: [...byId.values()] };
}

export interface SweepOptions {
  dataDir: string;
  jobs: number;
  force: boolean;
  failFast: boolean;
  configFile: string;
  command: string;
  reporter: SweepReporter;
}

export interface CellOutcome {
  cell: PlannedCell;
  result: 'done' | 'failed' | 'skipped' | 'locked' | 'interrupted';
  detail?: string;
  seconds?: number;
}

/** How a sweep shows progress: a live bar on a TTY, plain lines otherwise (cli/progress.ts). */
export interface SweepReporter {
  start(total: number, toRun: number): void;
  note(line: string): void;
  event(cell: PlannedCell, e: WorkerEvent): void;
  finished(outcome: CellOutcome): void;
  stop(): void;
}

function workerEntry(): string {
  // Under tsx the sources run directly; from dist/ the compiled worker is next to this file.
  const self = fileURLToPath(import.meta.url);
  return self.endsWith('.ts') ? self.replace(/sweep\.ts$/, 'worker.ts') : self.replace(/sweep\.js$/, 'worker.js');
}

/**
 * Run every unfinished cell, `jobs` at a time, each in its own process. Failures are recorded and the
 * sweep goes on (unless failFast); cells locked by another `sps run` are left to it.
 */
export async function runSweep(tasks: readonly TaskDefinition[], planned: PlannedCell[], opts: SweepOptions): Promise<CellOutcome[]> {
  // One sweep.json per results folder: every cell planned there by any sweep.
  const now = new Date().toISOString();
  for (const dir of new Set(planned.map((p) => dirname(p.runDir)))) {
    const here = planned.filter((p) => dirname(p.runDir) === dir);
    const { sweep: old, problem } = readSweep(dir);
    if (problem) opts.reporter.note(`warning: ${problem} (This sweep now writes a new one with its own cells.)`);
    const cells = here.map((p) => ({ id: p.id, folder: p.folder, task: p.config.task, objective: p.config.objective, mode: p.config.mode, seed: p.config.seed }));
    writeJsonAtomic(join(dir, SWEEP_FILE), mergePlan(old, cells, { experiment: here[0].config.experiment, configFile: opts.configFile, now }));
  }
  for (const p of planned) {
    if (p.damage) opts.reporter.note(`damaged run: ${p.damage.file}: ${p.damage.reason}; the folder is moved to ${join(dirname(p.runDir), REPLACED_DIR)}/ and the cell is redone`);
  }

  const outcomes: CellOutcome[] = [];
  const queue: PlannedCell[] = [];
  for (const p of planned) {
    if (p.state === 'done' && !opts.force) outcomes.push({ cell: p, result: 'skipped', detail: 'already done' });
    else queue.push(p);
  }
  const taskOf = (name: string): TaskDefinition => {
    const t = tasks.find((x) => x.name === name);
    if (!t) throw new Error(`runSweep: no task definition for '${name}'`);
    return t;
  };
  const datasets = [...new Set(queue.flatMap((p) => taskOf(p.config.task).datasets(p.config)))];
  if (datasets.length > 0) await ensurePrepared(datasets, { log: (l) => opts.reporter.note(l), dataDir: opts.dataDir });

  const seedsPerGroup = new Map<string, number>();
  for (const p of planned) {
    const k = `${p.config.task}/${p.config.objective}/${p.config.mode}`;
    seedsPerGroup.set(k, (seedsPerGroup.get(k) ?? 0) + 1);
  }

  opts.reporter.start(planned.length, queue.length);
  const running = new Map<string, ChildProcess>();
  /** Why the sweep is stopping its workers (a signal, --fail-fast); undefined while it is not. */
  let stopping: string | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    stopping = `${sig} to the sweep`;
    opts.reporter.note(`${sig}: stopping; unfinished cells will be redone by the next sps run`);
    for (const child of running.values()) child.kill('SIGTERM');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const runOne = (p: PlannedCell): Promise<CellOutcome> =>
    new Promise((resolve) => {
      const job: Job = {
        id: p.id,
        cell: p.config,
        runDir: p.runDir,
        dataDir: opts.dataDir,
        force: opts.force,
        plannedSeeds: seedsPerGroup.get(`${p.config.task}/${p.config.objective}/${p.config.mode}`) ?? 1,
        command: opts.command,
      };
      const child = fork(workerEntry(), [], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv: process.execArgv });
      running.set(p.id, child);
      let outcome: CellOutcome | undefined;
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      child.on('message', (e: WorkerEvent) => {
        opts.reporter.event(p, e);
        if (e.type === 'done') outcome = { cell: p, result: 'done', seconds: e.seconds };
        else if (e.type === 'failed') outcome = { cell: p, result: 'failed', detail: e.error };
        else if (e.type === 'locked') outcome = { cell: p, result: 'locked', detail: `locked by ${e.owner}` };
        else if (e.type === 'skipped') outcome = { cell: p, result: 'skipped', detail: 'already done' };
      });
      child.once('spawn', () => child.send(job));
      child.on('exit', (code, signal) => {
        running.delete(p.id);
        // A worker that ends without reporting leaves run.json `running`: record what happened, so the
        // folder tells the same story as the summary. The next sweep redoes the cell either way.
        if (!outcome && (stopping || signal === 'SIGINT' || signal === 'SIGTERM')) {
          const why = stopping ?? `${signal} to the worker`;
          recordEnd(p.runDir, 'interrupted', `stopped by ${why}; the next sps run redoes this cell`);
          outcome = { cell: p, result: 'interrupted', detail: `stopped by ${why}` };
        } else if (!outcome) {
          // Out of memory, a native crash.
          const detail = `worker exited with ${signal ?? `code ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`;
          recordEnd(p.runDir, 'failed', detail);
          outcome = { cell: p, result: 'failed', detail };
        }
        resolve(outcome);
      });
    });

  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (next < queue.length && !stopping && !(failed && opts.failFast)) {
      const outcome = await runOne(queue[next++]);
      outcomes.push(outcome);
      opts.reporter.finished(outcome);
      if (outcome.result === 'failed') {
        failed = true;
        if (opts.failFast) {
          stopping = `--fail-fast after the failure of ${outcome.cell.folder}`;
          opts.reporter.note(`--fail-fast: stopping after the failure of ${outcome.cell.folder}`);
          for (const child of running.values()) child.kill('SIGTERM');
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.jobs, queue.length)) }, lane));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    opts.reporter.stop();
  }
  for (let i = next; i < queue.length; i++) outcomes.push({ cell: queue[i], result: 'interrupted', detail: 'not started' });
  return settleLocked(outcomes, opts.reporter);
}

/**
 * Cells another process held when this sweep reached them: those it finished meanwhile count as done;
 * for the others the sweep is incomplete, so it says so and exits with EXIT_RUNNING_ELSEWHERE (the
 * CLI returns process.exitCode unless a failure or an interruption gives another code).
 */
function settleLocked(outcomes: CellOutcome[], reporter: SweepReporter): CellOutcome[] {
  const settled = outcomes.map((o): CellOutcome => (o.result === 'locked' && isDone(o.cell.runDir) ? { cell: o.cell, result: 'skipped', detail: 'finished by another sps run' } : o));
  const still = settled.filter((o) => o.result === 'locked').length;
  if (still > 0) {
    reporter.note(
      `${still} cell${still > 1 ? 's are' : ' is'} still running in another process (see "running elsewhere" below); this sweep is not complete and exits with code ${EXIT_RUNNING_ELSEWHERE}: run the same command again once ${still > 1 ? 'they have' : 'it has'} finished`,
    );
    process.exitCode = EXIT_RUNNING_ELSEWHERE;
  }
  return settled;
}
