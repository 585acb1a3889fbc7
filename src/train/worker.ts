/**
 * Child-process entry of `sps run`: receives one Job over IPC, runs it, reports WorkerEvents back.
 * One cell per process keeps cells isolated (memory, back-end state) and lets the wasm back end use
 * one core per process.
 */
import { userError } from '../util/errors.js';
import { executeJob, type Job, type WorkerEvent } from './execute.js';

const send = (e: WorkerEvent): void => {
  if (process.connected) process.send?.(e);
};

let result: number | undefined;

// Either we finished and closed the channel ourselves, or the sweep died (even by SIGKILL): then stop
// too, leaving the run unfinished for the next sweep.
process.on('disconnect', () => process.exit(result ?? 2));

process.once('message', (job: Job) => {
  executeJob(job, send).then(
    (code) => {
      result = code;
      // Closing the channel flushes the events already sent, then fires 'disconnect' above.
      if (process.connected) process.disconnect();
      else process.exit(code);
    },
    (e: unknown) => {
      // This line is all the sweep can report when the cell failed before its log existed: keep it
      // to one line for errors a user can act on (a full or read-only disk), the stack for the rest.
      const known = userError(e);
      process.stderr.write(`sps worker: ${known ? known.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(70);
    },
  );
});
