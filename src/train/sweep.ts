import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Cell } from '../config/cells.js';
import type { EnsureOptions } from '../data/prepare.js';
import { isDone, runFolderName, RUN_FILES } from '../results/store.js';
import type { RunRecord } from '../results/types.js';
import { readJsonIfExists } from '../util/fsx.js';
import { crashDetail, forkCell, recordCrash } from './cell-process.js';
import type { Job, WorkerEvent } from './execute.js';
import { lockHolder } from './lock.js';
import { plannedJobs, prepareCellData, writeSweepFiles } from './plan.js';
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

/**
 * Run every unfinished cell, `jobs` at a time, each in its own process. Failures are recorded and the
 * sweep goes on (unless failFast); cells locked by another `sps run` are left to it.
 */
export async function runSweep(tasks: readonly TaskDefinition[], planned: PlannedCell[], opts: SweepOptions): Promise<CellOutcome[]> {
  writeSweepFiles(planned, opts.configFile);

  const outcomes: CellOutcome[] = [];
  const queue: PlannedCell[] = [];
  for (const p of planned) {
    if (p.state === 'done' && !opts.force) outcomes.push({ cell: p, result: 'skipped', detail: 'already done' });
    else queue.push(p);
  }
  const dataHashes = await prepareCellData(tasks, queue, opts.dataDir, (l) => opts.reporter.note(l), opts.data);
  const jobs = plannedJobs(planned, { dataDir: opts.dataDir, force: opts.force, command: opts.command, dataHashes, tasks });
  const jobOf = new Map(planned.map((p, i) => [p, jobs[i]]));

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
      const job = jobOf.get(p) as Job;
      const { child, exited } = forkCell(job, (e) => {
        opts.reporter.event(p, e);
        if (e.type === 'done') outcome = { cell: p, result: 'done', seconds: e.seconds };
        else if (e.type === 'failed') outcome = { cell: p, result: 'failed', detail: e.error };
        else if (e.type === 'locked') outcome = { cell: p, result: 'locked', detail: `locked by ${e.owner}` };
        else if (e.type === 'skipped') outcome = { cell: p, result: 'skipped', detail: 'already done' };
      });
      running.set(p.id, child);
      let outcome: CellOutcome | undefined;
      void exited.then((exit) => {
        running.delete(p.id);
        if (!outcome && !stopping) {
          // The worker died without reporting (out of memory, a native crash): record that in run.json
          // so the folder tells the same story as the summary. The next sweep retries the cell.
          const detail = crashDetail(exit);
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
