#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { SpsError } from '../util/errors.js';
import { registerRun } from './run.js';
import { registerTable } from './table.js';
import { registerPrepare } from './prepare.js';
import { registerLs } from './ls.js';
import { registerRunCell } from './run-cell.js';
import { registerStatus } from './status.js';
import { spsVersion } from '../util/versions.js';

/** Every command module exports `registerX(program)` and throws SpsError for anything the user can fix. */
export async function main(argv: string[]): Promise<number> {
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
  registerRunCell(program);
  registerStatus(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof SpsError) {
      process.stderr.write(`sps: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`sps: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 70;
  }
}
