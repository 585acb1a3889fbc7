import { basename, dirname, join, resolve, sep } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { RUN_FILES } from '../results/store.js';
import { crashDetail, forkCell, recordEnd } from '../train/cell-process.js';
import { checkCell } from '../config/check-cell.js';
import { allTasks } from '../train/tasks/index.js';
import type { Job, WorkerEvent } from '../train/execute.js';
import { describeOwner, lockHolder } from '../train/lock.js';
import { readPlanFile, RUN_CELL_EXIT } from '../train/plan.js';
import { SpsError } from '../util/errors.js';

function index(v: string): number {
  // Decimal digits only: Number() would also take 0x1, 1e0 or ' 1 '.
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number ≥ 0 in decimal digits');
  return Number(v);
}

/**
 * Job `n` of the plan, checked before it runs: its cell against the schemas and its run id
 * (checkCell), and its run folder, which must be the cell's folder inside the plan's results root
 * (the plan lives at <root>/slurm/<experiment>/plan.json).
 */
async function checkedJob(planPath: string, job: Job, n: number): Promise<Job> {
  const where = `${planPath}: jobs[${n}]`;
  if (!/^[0-9a-f]{12}$/.test(job.id))
    throw new SpsError(
      `${where}.id: ${JSON.stringify(job.id)} is not a run id. The plan was edited or damaged; submit the sweep again (sps run CONFIG --launcher slurm) to rewrite it`,
    );
  const cell = checkCell(job.cell as unknown as Record<string, unknown>, job.id, where, await allTasks());
  const root = resolve(dirname(planPath), '..', '..');
  const runDir = resolve(job.runDir);
  const folder = basename(runDir);
  const inRoot = runDir.startsWith(root + sep);
  if (!inRoot || !folder.startsWith(`${cell.task}-${cell.objective}-${cell.mode}-seed${cell.seed}`) || !folder.endsWith(`-${job.id}`)) {
    throw new SpsError(
      `${where}.runDir: ${JSON.stringify(job.runDir)} is not this cell's run folder under ${root}. The plan was edited or damaged; submit the sweep again (sps run CONFIG --launcher slurm) to rewrite it`,
    );
  }
  return { ...job, cell, runDir };
}

/**
 * Run cell N of a plan file in a worker process, with the same lock, atomic writes and crash record as
 * `sps run`. Exit code: 0 done, 1 failed, 3 already done (skipped), 4 locked by a live run elsewhere.
 */
export async function runCell(planPath: string, n: number): Promise<number> {
  const plan = readPlanFile(planPath);
  if (!plan.jobs[n]) throw new SpsError(`${planPath}: no cell with index ${n} (the plan has ${plan.jobs.length}, indices 0-${plan.jobs.length - 1})`);
  const job = await checkedJob(planPath, plan.jobs[n], n);
  const say = (l: string): void => void process.stderr.write(`[${job.id}] ${l}\n`);
  let last: WorkerEvent | undefined;
  const { child, exited } = forkCell(job, (e) => {
    if (e.type === 'log') say(e.line);
    else if (e.type !== 'epoch' && e.type !== 'plan' && e.type !== 'started') last = e;
  });
  // Slurm signals the whole task on scancel or a time limit: pass it on and leave the run unfinished
  // (its lock names a process that is gone, so the next submission redoes it).
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    signalled = sig;
    child.kill(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const exit = await exited;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  if (last?.type === 'done') return RUN_CELL_EXIT.done;
  if (last?.type === 'skipped') {
    say('already done; nothing to run');
    return RUN_CELL_EXIT.skipped;
  }
  if (last?.type === 'failed') {
    say(`FAILED: ${last.error} (see ${join(job.runDir, RUN_FILES.log)})`);
    return RUN_CELL_EXIT.failed;
  }
  if (last?.type === 'locked') {
    const lock = join(job.runDir, RUN_FILES.lock);
    const owner = lockHolder(lock);
    say(`not run: locked by ${owner ? describeOwner(owner, lock) : last.owner}`);
    return RUN_CELL_EXIT.locked;
  }
  if (signalled) {
    say(`${signalled}: stopped; the cell is left unfinished and the next submission redoes it`);
    return 128 + (signalled === 'SIGINT' ? 2 : 15);
  }
  const detail = crashDetail(exit);
  recordEnd(job.runDir, 'failed', detail);
  say(`FAILED: ${detail}`);
  return RUN_CELL_EXIT.failed;
}

export function registerRunCell(program: Command): void {
  program
    .command('run-cell')
    .description('run one cell of a plan file (what each Slurm array task runs); exit 0 done, 1 failed, 3 already done, 4 locked elsewhere')
    .argument('<plan>', 'plan.json written by sps run --launcher slurm')
    .option('--index <n>', 'the cell to run (default: $SLURM_ARRAY_TASK_ID)', index)
    .action(async (planPath: string, opts: { index?: number }) => {
      const fromEnv = process.env.SLURM_ARRAY_TASK_ID;
      const n = opts.index ?? (fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) : undefined);
      if (n === undefined) throw new SpsError('run-cell: give --index N (or run it inside a Slurm array task, which sets SLURM_ARRAY_TASK_ID)');
      process.exitCode = await runCell(planPath, n);
    });
}
