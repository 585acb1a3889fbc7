import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { printable } from '../util/text.js';
import { dirname, join, relative, resolve } from 'node:path';
import Table from 'cli-table3';
import { Command } from 'commander';
import { readPlanFile, type PlanFile } from '../train/plan.js';
import { errorMessage } from '../util/errors.js';
import { collectRows, statusText } from './ls.js';

interface SlurmTask {
  task: string;
  log: string;
}

/** Every <dir>/slurm/<experiment>/ below `root` or directly above it (a block's folder sits inside the sweep's). */
function slurmDirs(root: string): string[] {
  const found: string[] = [];
  const look = (dir: string): void => {
    const s = join(dir, 'slurm');
    if (!existsSync(s)) return;
    for (const e of readdirSync(s, { withFileTypes: true }))
      if (e.isDirectory() && existsSync(join(s, e.name, 'submissions.jsonl'))) found.push(join(s, e.name));
  };
  const walk = (dir: string): void => {
    look(dir);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'slurm') walk(join(dir, e.name));
  };
  walk(root);
  for (let d = dirname(root); d !== dirname(d); d = dirname(d)) look(d);
  return found;
}

/** The latest Slurm array task submitted for each run folder (by its path). */
function tasksByRunDir(root: string, warn: (line: string) => void): Map<string, SlurmTask> {
  const tasks = new Map<string, SlurmTask>();
  for (const dir of slurmDirs(root)) {
    const lines = readFileSync(join(dir, 'submissions.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    for (const line of lines) {
      let sub: { job_id: string; indices: number[]; plan: string };
      try {
        sub = JSON.parse(line) as typeof sub;
      } catch {
        continue; // a line cut short by a crash while appending: that submission is unknown
      }
      if (!existsSync(sub.plan)) continue;
      let plan: PlanFile;
      try {
        plan = readPlanFile(sub.plan);
      } catch (e) {
        // One unreadable plan hides its tasks, not the whole status.
        warn(`${errorMessage(e)} (the Slurm tasks of job ${sub.job_id} are not shown)`);
        continue;
      }
      for (const i of sub.indices) {
        const job = plan.jobs[i];
        if (job) tasks.set(resolve(job.runDir), { task: `${sub.job_id}_${i}`, log: join(dir, 'logs', `${sub.job_id}_${i}.out`) });
      }
    }
  }
  return tasks;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'each cell of the sweeps under a results directory, joined with its Slurm task state (squeue/sacct) when it was submitted with --launcher slurm',
    )
    .argument('<results-dir>', 'results directory (searched recursively)')
    .action(async (root: string) => {
      const { rows, warnings } = collectRows(root);
      for (const w of warnings) process.stderr.write(`sps: warning: ${w}\n`);
      const tasks = tasksByRunDir(resolve(root), (w) => process.stderr.write(`sps: warning: ${w}\n`));
      // Loaded only when there are Slurm tasks to ask about.
      const states =
        tasks.size > 0
          ? (await import('../train/launchers/slurm-queue.js')).slurmStates([...new Set([...tasks.values()].map((t) => t.task.split('_')[0]))])
          : new Map<string, string>();
      const { isActiveState } = await import('../train/launchers/slurm-queue.js');
      const t = new Table({
        head: ['status', 'task', 'objective', 'mode', 'seed', 'folder', 'slurm task', 'slurm state', 'info'],
        style: { head: [], border: [] },
      });
      let died = 0;
      for (const r of rows) {
        const st = tasks.get(resolve(r.dir));
        const state = st ? (states.get(st.task) ?? 'unknown') : '';
        let info = r.info;
        if (st && r.state !== 'done' && r.state !== 'failed' && !isActiveState(state)) {
          // The task is over but the cell has no result: it was killed (time limit, memory, node
          // failure, scancel) before it could write one.
          died++;
          // A task cancelled while pending never started, so it has no log to point to.
          const log = existsSync(st.log) ? `see ${st.log}` : 'it wrote no log (it never started)';
          info = `Slurm task ${st.task} ended${state === 'unknown' ? '' : ` (${state})`} without writing a result; ${log}`;
        } else if (st && r.state === 'failed') {
          if (existsSync(st.log)) info = `${info}; Slurm log ${st.log}`;
        }
        t.push([statusText(r), r.task, r.objective, r.mode, r.seed, relative(root, r.dir), st?.task ?? '', state, info].map((c) => printable(String(c))));
      }
      process.stdout.write(t.toString() + '\n');
      const count = (s: string) => rows.filter((r) => r.state === s).length;
      process.stdout.write(`${rows.length} cells: ${count('done')} done, ${count('failed')} failed, ${count('running')} running, ${count('pending')} pending`);
      process.stdout.write(
        died > 0 ? `; ${died} Slurm task${died > 1 ? 's' : ''} died without a result (rerun the same sps run command to resubmit what is missing)\n` : '\n',
      );
    });
}
