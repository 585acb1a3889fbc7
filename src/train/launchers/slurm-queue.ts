/**
 * What Slurm says about jobs: squeue for jobs it still holds (running, pending, or recently ended),
 * sacct for older ones when accounting is enabled. Synchronous and small, because lock checks use it.
 */
import { spawnSync } from 'node:child_process';

/** States in which a job's processes may still be alive. */
const ACTIVE = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'STOPPED',
  'RESIZING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'SIGNALING',
  'STAGE_OUT',
]);

export function isActiveState(state: string): boolean {
  return ACTIVE.has(state.split(' ')[0]);
}

function run(cmd: string, args: string[]): { ok: boolean; missing: boolean; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return { ok: false, missing: (r.error as NodeJS.ErrnoException).code === 'ENOENT', stdout: '', stderr: r.error.message };
  return { ok: r.status === 0, missing: false, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The state of each job or array task (ids like `12` or `12_3`) that Slurm still knows, by id.
 * Array tasks are listed one by one. Jobs neither squeue nor sacct knows are absent from the map.
 */
export function slurmStates(jobIds: string[]): Map<string, string> {
  const states = new Map<string, string>();
  if (jobIds.length === 0) return states;
  // sacct first (it remembers ended jobs); squeue then overrides with the live view.
  const acct = run('sacct', ['-n', '-P', '-X', '-j', jobIds.join(','), '-o', 'JobID,State']);
  if (acct.ok) {
    for (const line of acct.stdout.split('\n')) {
      const [id, state] = line.trim().split('|');
      if (id && state) states.set(id, state.split(' ')[0]);
    }
  }
  const queue = run('squeue', ['-h', '-r', '-t', 'all', '-j', jobIds.join(','), '-o', '%i|%T']);
  if (queue.ok) {
    for (const line of queue.stdout.split('\n')) {
      const [id, state] = line.trim().split('|');
      if (id && state) states.set(id, state);
    }
  }
  return states;
}

/**
 * Whether the Slurm job (or array task) `jobId` has certainly ended: Slurm reports it in an ended
 * state, or no longer knows it. Undefined when Slurm cannot be asked (no squeue here).
 */
export function slurmJobEnded(jobId: string): boolean | undefined {
  const q = run('squeue', ['-h', '-r', '-t', 'all', '-j', jobId, '-o', '%i|%T']);
  if (q.missing) return undefined;
  if (!q.ok) return /invalid job id/i.test(q.stderr) ? true : undefined;
  const line = q.stdout.split('\n').find((l) => l.startsWith(`${jobId}|`));
  if (line) return !isActiveState(line.split('|')[1]);
  return true;
}

/** This process's Slurm job as squeue names it: `ARRAYJOB_TASK` in an array, else the job id. */
export function currentSlurmJob(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}`;
  return env.SLURM_JOB_ID || undefined;
}
