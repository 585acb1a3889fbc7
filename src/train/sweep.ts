import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cell } from '../config/cells.js';
import { ensurePrepared, type EnsureOptions } from '../data/prepare.js';
import { isDone, runFolderName, RUN_FILES, SWEEP_FILE } from '../results/store.js';
import type { RunRecord, SweepRecord } from '../results/types.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fsx.js';
import type { Job, WorkerEvent } from './execute.js';
import { lockHolder } from './lock.js';
import type { TaskDefinition } from './task.js';

export type CellState = 'done' | 'failed' | 'running' | 'pending';

export interface PlannedCell extends Cell {
  folder: string;
  runDir: string;
  state: CellState;
  /** For pending cells: whether an earlier attempt was interrupted. */
  interrupted: boolean;
}

/** The state of a run folder: done, failed, running (its lock is held) or pending (absent or interrupted). */
export function cellState(runDir: string): { state: CellState; interrupted: boolean } {
  if (!existsSync(runDir)) return { state: 'pending', interrupted: false };
  if (isDone(runDir)) return { state: 'done', interrupted: false };
  if (lockHolder(join(runDir, RUN_FILES.lock))) return { state: 'running', interrupted: false };
  const run = readJsonIfExists<RunRecord>(join(runDir, RUN_FILES.run));
  if (run?.status === 'failed') return { state: 'failed', interrupted: false };
  return { state: 'pending', interrupted: run !== undefined };
}

function recordCrash(runDir: string, message: string): void {
  const path = join(runDir, RUN_FILES.run);
  const run = readJsonIfExists<RunRecord>(path);
  if (run?.status !== 'running' || lockHolder(join(runDir, RUN_FILES.lock))) return;
  const ended = new Date();
  writeJsonAtomic(path, { ...run, status: 'failed', ended_at: ended.toISOString(), duration_s: (ended.getTime() - Date.parse(run.started_at)) / 1000, error: { message } });
}

export function planCells(cells: Cell[], outDir: string): PlannedCell[] {
  return cells.map((c) => {
    const folder = runFolderName({ ...c.config, id: c.id });
    const runDir = join(outDir, folder);
    return { ...c, folder, runDir, ...cellState(runDir) };
  });
}

export interface SweepOptions {
  dataDir: string;
  jobs: number;
  force: boolean;
  failFast: boolean;
  configFile: string;
  command: string;
  reporter: SweepReporter;
  /** Where missing data sets come from (`--data-from`, `--no-prepare`). */
  data?: Pick<EnsureOptions, 'from' | 'prepare'>;
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
  // One sweep.json per results folder, listing the cells planned there.
  const created = new Date().toISOString();
  for (const dir of new Set(planned.map((p) => dirname(p.runDir)))) {
    const here = planned.filter((p) => dirname(p.runDir) === dir);
    const sweep: SweepRecord = {
      experiment: here[0].config.experiment,
      config_file: opts.configFile,
      created_at: created,
      cells: here.map((p) => ({ id: p.id, folder: p.folder, task: p.config.task, objective: p.config.objective, mode: p.config.mode, seed: p.config.seed })),
    };
    writeJsonAtomic(join(dir, SWEEP_FILE), sweep);
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
  const dataHashes = datasets.length > 0 ? await ensurePrepared(datasets, { log: (l) => opts.reporter.note(l), dataDir: opts.dataDir, ...opts.data }) : {};

  const seedsPerGroup = new Map<string, number>();
  for (const p of planned) {
    const k = `${p.config.task}/${p.config.objective}/${p.config.mode}`;
    seedsPerGroup.set(k, (seedsPerGroup.get(k) ?? 0) + 1);
  }

  opts.reporter.start(planned.length, queue.length);
  const running = new Map<string, ChildProcess>();
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    stopping = true;
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
        datasets: Object.fromEntries(taskOf(p.config.task).datasets(p.config).map((d) => [d, dataHashes[d]])),
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
        if (!outcome && !stopping) {
          // The worker died without reporting (out of memory, a native crash): record that in run.json
          // so the folder tells the same story as the summary. The next sweep retries the cell.
          const detail = `worker exited with ${signal ?? `code ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`;
          recordCrash(p.runDir, detail);
          outcome = { cell: p, result: 'failed', detail };
        }
        resolve(outcome ?? { cell: p, result: 'interrupted', detail: 'stopped by a signal' });
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
          stopping = true;
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
  return outcomes;
}
