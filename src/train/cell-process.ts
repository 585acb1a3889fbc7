/**
 * One cell in its own worker process (worker.ts), shared by the local sweep and `sps run-cell`: the
 * parent survives a worker that dies without reporting (out of memory, a native crash) and records
 * that in run.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspectRun, RUN_FILES } from '../results/store.js';
import type { RunRecord } from '../core/records.js';
import { writeJsonAtomic } from '../util/fsx.js';
import type { Job, WorkerEvent } from './execute.js';
import { lockHolder } from './lock.js';

/** Close a run its worker could not close (it died, or was stopped): run.json tells what happened. */
export function recordEnd(runDir: string, status: 'failed' | 'interrupted', message: string): void {
  const { run, damage } = inspectRun(runDir);
  if (damage || run?.status !== 'running' || lockHolder(join(runDir, RUN_FILES.lock))) return;
  const ended = new Date();
  const record: RunRecord = {
    ...run,
    status,
    ended_at: ended.toISOString(),
    duration_s: (ended.getTime() - Date.parse(run.started_at)) / 1000,
    error: { message },
  };
  writeJsonAtomic(join(runDir, RUN_FILES.run), record);
}

function workerEntry(): string {
  // Under tsx the sources run directly; from dist/ the compiled worker is next to this file.
  const self = fileURLToPath(import.meta.url);
  return self.endsWith('.ts') ? self.replace(/cell-process\.ts$/, 'worker.ts') : self.replace(/cell-process\.js$/, 'worker.js');
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last 4000 characters the worker wrote to stderr. */
  stderr: string;
}

/** Fork a worker for `job`; `onEvent` sees each event it reports; `exited` settles when it is gone. */
export function forkCell(job: Job, onEvent: (e: WorkerEvent) => void): { child: ChildProcess; exited: Promise<WorkerExit> } {
  const child = fork(workerEntry(), [], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv: process.execArgv });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.on('message', onEvent);
  child.once('spawn', () => child.send(job));
  const exited = new Promise<WorkerExit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { child, exited };
}

/** How a worker that reported nothing died, as run.json's error message says it. */
export function crashDetail(exit: WorkerExit): string {
  return `worker exited with ${exit.signal ?? `code ${exit.code}`}${exit.stderr ? `: ${exit.stderr.trim()}` : ''}`;
}
