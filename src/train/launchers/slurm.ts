/**
 * The Slurm launcher: writes the plan and one sbatch script into the results folder and submits the
 * cells that are not done as one job array; each array task runs `sps run-cell PLAN --index N` on the
 * shared file system. Resubmitting after failures submits only what is still missing.
 */
import { spawnSync } from 'node:child_process';
import { shellQuote as quote } from '../../util/text.js';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, SpsError } from '../../util/errors.js';
import { ensureDir, writeFileAtomic } from '../../util/fsx.js';
import type { Job } from '../execute.js';
import { withLock } from '../lock.js';
import { plannedJobs, prepareCellData, readPlanFile, RUN_CELL_EXIT, writePlanFile, writeSweepFiles, type DataHashes } from '../plan.js';
import { isActiveState, slurmStates } from './slurm-queue.js';
import type { Launcher, LaunchRequest } from './index.js';
import type { SlurmSettings } from './settings.js';

export const SLURM_FOLDER = 'slurm';
export const SUBMISSIONS_FILE = 'submissions.jsonl';
/** Held while a submission reads and writes plan.json and submissions.jsonl (hidden). */
const SUBMIT_LOCK = '.submit.lock';

/** One line of submissions.jsonl: which plan indices went to which array job. */
export interface Submission {
  job_id: string;
  array: string;
  indices: number[];
  submitted_at: string;
  plan: string;
  script: string;
}

/** The deepest folder holding every results folder of the sweep. */
export function commonRoot(dirs: string[]): string {
  let root = resolve(dirs[0]);
  for (const d of dirs.slice(1).map((x) => resolve(x))) {
    while (d !== root && !d.startsWith(root.endsWith(sep) ? root : root + sep)) root = dirname(root);
  }
  return root;
}

/** Where a sweep's plan, script, submission record and task logs live: <root>/slurm/<experiment>/. */
export function slurmDir(outDirs: string[], experiment: string): string {
  return join(commonRoot(outDirs), SLURM_FOLDER, experiment);
}

/** Plan indices as an --array list with ranges: [0,1,2,5,7,8] → "0-2,5,7-8". */
export function arraySpec(indices: number[], throttle?: number): string {
  const parts: string[] = [];
  const sorted = [...indices].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',') + (throttle !== undefined ? `%${throttle}` : '');
}

/**
 * A value for an `#SBATCH` line, which sbatch (not the shell) splits at blanks: double-quoted, with
 * `\` and `"` escaped, when it holds anything but plain characters. Control characters (a newline
 * would end the line and start a shell line) are refused here as well as by the settings' schema.
 */
export function sbatchValue(v: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\x00-\x1f\x7f]/.test(v)) throw new SpsError(`${JSON.stringify(v)}: a value with a control character cannot go into an #SBATCH line`);
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(v) ? v : `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** One sbatch option (`--name=value`, `--name value`, `-X value`) as the text of an `#SBATCH` line. */
function directive(arg: string): string {
  const m = /^(--?[A-Za-z][A-Za-z0-9-]*)([= ])(.*)$/s.exec(arg);
  return m ? `${m[1]}${m[2]}${sbatchValue(m[3])}` : sbatchValue(arg);
}

/** The sbatch script every array task runs. */
export function sbatchScript(o: { experiment: string; dir: string; plan: string; cwd: string; settings: SlurmSettings }): string {
  const s = o.settings;
  // `%` starts a Slurm file-name pattern (%A, %a): a literal one in the folder's path is `%%`.
  const logs = join(o.dir, 'logs').replace(/%/g, '%%');
  const directives = [
    `--job-name=sps-${o.experiment}`,
    `--output=${join(logs, '%A_%a.out')}`,
    '--ntasks=1',
    ...(s.partition ? [`--partition=${s.partition}`] : []),
    ...(s.time ? [`--time=${s.time}`] : []),
    ...(s.cpus_per_task ? [`--cpus-per-task=${s.cpus_per_task}`] : []),
    ...(s.mem ? [`--mem=${s.mem}`] : []),
    ...(s.sbatch_args ?? []),
  ];
  // With a setup line (e.g. `module load nodejs`) the node it provides is used; otherwise the node
  // that submitted, which the shared file system makes reachable from the compute nodes.
  const node = s.setup ? 'node' : quote(process.execPath);
  const sps = quote(fileURLToPath(new URL('../../../bin/sps', import.meta.url)));
  return [
    '#!/bin/bash',
    ...directives.map((d) => `#SBATCH ${directive(d)}`),
    '',
    `# Written by sps run --launcher slurm: one array task per planned cell (the index into ${relative(o.dir, o.plan)}).`,
    // launcher.setup is the one shell line sps writes as it is given (a config can run commands here).
    ...(s.setup ? [s.setup] : []),
    `cd ${quote(o.cwd)} || exit 1`,
    `${node} ${sps} run-cell ${quote(o.plan)} --index "$SLURM_ARRAY_TASK_ID"`,
    'rc=$?',
    `# ${RUN_CELL_EXIT.skipped}: the cell was already done (finished by an earlier task); not a failure.`,
    `[ "$rc" -eq ${RUN_CELL_EXIT.skipped} ] && exit 0`,
    'exit "$rc"',
    '',
  ].join('\n');
}

function submit(script: string, array: string, settings: SlurmSettings): string {
  const r = spawnSync('sbatch', ['--parsable', `--array=${array}`, script], { encoding: 'utf8' });
  const nothing = 'Nothing was submitted.';
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SpsError(
        `sbatch not found on PATH: run this on a Slurm login node (or load Slurm's module), or use --launcher local. ${nothing} The script is at ${script}.`,
      );
    }
    throw new SpsError(`sbatch could not be started (${r.error.message}). ${nothing}`);
  }
  const said = r.stderr.trim();
  if (r.status !== 0) {
    if (/invalid partition/i.test(said)) {
      throw new SpsError(
        `Slurm has no partition '${settings.partition ?? '(default)'}' (sinfo -s lists the partitions; set launcher.partition or --partition). ${nothing}\nsbatch said: ${said}`,
      );
    }
    throw new SpsError(`sbatch refused the submission (exit ${r.status}). ${nothing} The script is at ${script}.\nsbatch said: ${said || '(nothing)'}`);
  }
  const id = r.stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id))
    throw new SpsError(
      `sbatch answered '${r.stdout.trim()}' instead of a job id; check squeue for a job named after the experiment before resubmitting.\nsbatch said: ${said}`,
    );
  return id;
}

/**
 * The plan's jobs after this submission: the jobs already in plan.json keep their index (array tasks
 * still queued read their cell by it), a cell planned again gets its job updated in place, and new
 * cells are appended.
 */
export function mergeJobs(old: readonly Job[], jobs: readonly Job[]): Job[] {
  const merged = [...old];
  for (const job of jobs) {
    const at = merged.findIndex((j) => j.id === job.id);
    if (at >= 0) merged[at] = job;
    else merged.push(job);
  }
  return merged;
}

/** The plan's jobs so far: none without a plan.json; a damaged one is replaced, with a word. */
function previousJobs(planPath: string, note: (line: string) => void): Job[] {
  if (!existsSync(planPath)) return [];
  try {
    return readPlanFile(planPath).jobs;
  } catch (e) {
    note(
      `warning: ${errorMessage(e)} (a new plan replaces it; array tasks of earlier submissions still queued may find other cells at their index, which they skip or redo safely)`,
    );
    return [];
  }
}

/**
 * The run ids whose array task of an earlier submission Slurm still holds pending or running: a
 * resubmission leaves them to it instead of queueing them twice.
 */
function queuedIds(dir: string, jobs: readonly Job[]): Map<string, string> {
  const path = join(dir, SUBMISSIONS_FILE);
  if (!existsSync(path) || jobs.length === 0) return new Map();
  const subs: Submission[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    try {
      if (line.trim() !== '') subs.push(JSON.parse(line) as Submission);
    } catch {
      // A line cut short by a crash while appending: that submission is unknown.
    }
  }
  const states = slurmStates([...new Set(subs.map((s) => s.job_id))]);
  const queued = new Map<string, string>();
  for (const sub of subs) {
    for (const i of sub.indices) {
      const task = `${sub.job_id}_${i}`;
      const state = states.get(task) ?? states.get(sub.job_id);
      if (jobs[i] && state && isActiveState(state)) queued.set(jobs[i].id, task);
    }
  }
  return queued;
}

export const slurmLauncher: Launcher = {
  async launch(req: LaunchRequest) {
    const { planned, sweep } = req;
    const dir = slurmDir(req.outDirs, req.experiment);
    const planPath = join(dir, 'plan.json');
    const scriptPath = join(dir, 'sweep.sbatch');
    const out = (l: string): void => void process.stdout.write(l + '\n');
    const note = (l: string): void => void process.stderr.write(l + '\n');
    const running = planned.filter((p) => p.state === 'running' && !sweep.force);
    const done = planned.filter((p) => p.state === 'done').length;
    const script = sbatchScript({ experiment: req.experiment, dir, plan: planPath, cwd: process.cwd(), settings: req.slurm });
    /** What to submit, given plan.json and the queue as they are now; `jobs` is the plan to write. */
    const decide = (dataHashes?: DataHashes) => {
      const jobs = mergeJobs(previousJobs(planPath, note), plannedJobs(planned, { ...sweep, ...(dataHashes ? { dataHashes, tasks: req.tasks } : {}) }));
      const queued = queuedIds(dir, jobs);
      const wanted = planned.filter((p) => (p.state !== 'done' || sweep.force) && p.state !== 'running' && !queued.has(p.id));
      const indices = wanted.map((p) => jobs.findIndex((j) => j.id === p.id));
      const still = planned.filter((p) => queued.has(p.id));
      const array = arraySpec(indices, req.slurm.throttle);
      const jobsQueued = [...new Set(still.map((p) => queued.get(p.id)!.split('_')[0]))];
      const summary = `${planned.length} cells: ${done} done, ${running.length} running, ${indices.length} to submit${still.length > 0 ? `, ${still.length} still queued in Slurm job ${jobsQueued.join(', ')}` : ''}`;
      return { jobs, wanted, indices, array, summary };
    };

    if (req.dryRun) {
      const d = decide();
      out(`# ${scriptPath}`);
      out(script);
      out(d.indices.length > 0 ? `sbatch --array=${d.array} ${quote(scriptPath)}` : '# nothing to submit');
      out(`# ${d.summary} (dry run: nothing written, nothing submitted)`);
      return { kind: 'submitted' };
    }
    const first = decide();
    if (first.indices.length === 0) {
      out(`${first.summary}: nothing to submit${running.length > 0 || first.summary.includes('queued') ? ' (follow the cells with sps status)' : ''}`);
      return { kind: 'submitted' };
    }
    // Array tasks read datasets/ from the shared file system: prepare it here, once, before submitting.
    const dataHashes = await prepareCellData(req.tasks, first.wanted, sweep.dataDir, note, sweep.data);
    ensureDir(dir);
    // Plan, submission and record under one lock: two submissions at once neither queue a cell twice
    // nor renumber the plan under each other.
    withLock(join(dir, SUBMIT_LOCK), planPath, () => {
      const d = decide(dataHashes);
      if (d.indices.length === 0) {
        out(`${d.summary}: nothing to submit (follow the cells with sps status)`);
        return;
      }
      writeSweepFiles(planned, sweep.configFile);
      writePlanFile(planPath, { experiment: req.experiment, config_file: sweep.configFile, created_at: new Date().toISOString(), jobs: d.jobs });
      ensureDir(join(dir, 'logs'));
      writeFileAtomic(scriptPath, script);
      const jobId = submit(scriptPath, d.array, req.slurm);
      const record: Submission = {
        job_id: jobId,
        array: d.array,
        indices: d.indices,
        submitted_at: new Date().toISOString(),
        plan: planPath,
        script: scriptPath,
      };
      appendFileSync(join(dir, SUBMISSIONS_FILE), JSON.stringify(record) + '\n');
      out(`submitted Slurm job ${jobId}, array ${d.array}: ${d.summary}`);
      out(`  script ${scriptPath}`);
      out(`  logs   ${join(dir, 'logs', `${jobId}_<index>.out`)}`);
      out(`  follow with: sps status ${commonRoot(req.outDirs)}   (resubmit the same command to rerun what is missing)`);
    });
    return { kind: 'submitted' };
  },
};
