#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { userError } from '../util/errors.js';
import { registerRun } from './run.js';
import { registerTable } from './table.js';
import { registerPrepare } from './prepare.js';
import { registerLs } from './ls.js';
import { registerReport } from './report.js';
import { registerPlot } from './plot.js';
import { registerRunCell } from './run-cell.js';
import { registerStatus } from './status.js';
import { registerSelect } from './select.js';
import { spsVersion } from '../util/versions.js';

/**
 * `sps ls | head`: once the reader has what it wants it closes the pipe, and the next write fails
 * with EPIPE. That is the reader's choice, not an error of sps: stop at once, quietly.
 */
function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listeners('error').includes(onStreamError)) continue;
    stream.on('error', onStreamError);
  }
}

function onStreamError(e: NodeJS.ErrnoException): void {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
}

/** Every command module exports `registerX(program)` and throws SpsError for anything the user can fix. */
export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnClosedPipe();
  const program = new Command();
  program
    .name('sps')
    .description('Experiments for "Scaling Matters in Deep Structured-Prediction Models" (arXiv 1902.11088)')
    .version(spsVersion())
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  registerRun(program);
  registerTable(program);
  registerPrepare(program);
  registerLs(program);
  registerReport(program);
  registerPlot(program);
  registerRunCell(program);
  registerStatus(program);
  registerSelect(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    // A file-system failure that no command turned into a message of its own still names its path.
    const known = userError(e);
    if (known) {
      process.stderr.write(`sps: ${known.message}\n`);
      return known.exitCode;
    }
    process.stderr.write(`sps: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 70;
  }
}
