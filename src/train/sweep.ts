import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { EnsureOptions } from '../data/prepare.js';
import { isDone, REPLACED_DIR } from '../results/store.js';
import { crashDetail, forkCell, recordEnd } from './cell-process.js';
import type { Job, WorkerEvent } from './execute.js';
import { plannedJobs, prepareCellData, writeSweepFiles, type PlannedCell } from './plan.js';
import type { TaskDefinition } from '../core/task.js';

/** Exit code of a sweep that left cells to another process still running them (EX_TEMPFAIL: try again later). */
export const EXIT_RUNNING_ELSEWHERE = 75;

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
  writeSweepFiles(planned, opts.configFile, (l) => opts.reporter.note(l));
  for (const p of planned) {
    if (p.damage)
      opts.reporter.note(
        `damaged run: ${p.damage.file}: ${p.damage.reason}; the cell is to be redone, once its folder is moved to ${join(dirname(p.runDir), REPLACED_DIR)}/`,
      );
  }

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
      const job = jobOf.get(p) as Job;
      let outcome: CellOutcome | undefined;
      const { child, exited } = forkCell(job, (e: WorkerEvent) => {
        opts.reporter.event(p, e);
        if (e.type === 'done') outcome = { cell: p, result: 'done', seconds: e.seconds };
        else if (e.type === 'failed') outcome = { cell: p, result: 'failed', detail: e.error };
        else if (e.type === 'locked') outcome = { cell: p, result: 'locked', detail: `locked by ${e.owner}` };
        else if (e.type === 'skipped') outcome = { cell: p, result: 'skipped', detail: 'already done' };
      });
      running.set(p.id, child);
      void exited.then((exit) => {
        running.delete(p.id);
        const signal = exit.signal;
        // A worker that ends without reporting leaves run.json `running`: record what happened, so the
        // folder tells the same story as the summary. The next sweep redoes the cell either way.
        if (!outcome && (stopping || signal === 'SIGINT' || signal === 'SIGTERM')) {
          const why = stopping ?? `${signal} to the worker`;
          recordEnd(p.runDir, 'interrupted', `stopped by ${why}; the next sps run redoes this cell`);
          outcome = { cell: p, result: 'interrupted', detail: `stopped by ${why}` };
        } else if (!outcome) {
          // Out of memory, a native crash.
          const detail = crashDetail(exit);
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
  const settled = outcomes.map((o): CellOutcome =>
    o.result === 'locked' && isDone(o.cell.runDir) ? { cell: o.cell, result: 'skipped', detail: 'finished by another sps run' } : o,
  );
  const still = settled.filter((o) => o.result === 'locked').length;
  if (still > 0) {
    reporter.note(
      `${still} cell${still > 1 ? 's are' : ' is'} still running in another process (see "running elsewhere" below); this sweep is not complete and exits with code ${EXIT_RUNNING_ELSEWHERE}: run the same command again once ${still > 1 ? 'they have' : 'it has'} finished`,
    );
    process.exitCode = EXIT_RUNNING_ELSEWHERE;
  }
  return settled;
}
