import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { currentSlurmJob, slurmJobEnded } from './launchers/slurm-queue.js';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  /** Under Slurm: the job (`ARRAYJOB_TASK` for an array task) whose process holds the lock. */
  slurm_job?: string;
  /**
   * When the owning process started (an opaque string: clock ticks after boot from /proc, or `ps`'s
   * lstart elsewhere). A pid is reused once its process is gone; pid and start time together are not.
   * Absent in locks written by older versions of sps, whose pid alone is then trusted.
   */
  start?: string;
}

export type LockResult = { ok: true; release: () => void } | { ok: false; owner: LockOwner };

const HAS_PROCFS = existsSync('/proc/self/stat');

/** /proc/PID/stat fields from the state on (the command name before them may hold spaces); null: no such process; undefined: no procfs. */
function procStat(pid: number): string[] | null | undefined {
  if (!HAS_PROCFS) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * The start time of process `pid`, or undefined when it cannot be told (no such process, no procfs
 * and no `ps`). Linux: field 22 of /proc/PID/stat (starttime, in clock ticks after boot); elsewhere
 * the `lstart` column of ps.
 */
export function processStartTime(pid: number): string | undefined {
  const fields = procStat(pid);
  if (fields) return fields[19]; // field 22; fields[0] is field 3 (the state)
  if (fields === null) return undefined;
  const ps = spawnSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' });
  const out = ps.status === 0 ? ps.stdout.trim() : '';
  return out === '' ? undefined : out;
}

/** Whether `owner` (a lock of this host) is still the live process that took the lock. */
function ownerAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const fields = procStat(owner.pid);
  // A killed worker whose parent died too stays a zombie until init reaps it: signalable, but gone.
  if (fields === null || (fields && fields[0] === 'Z')) return false;
  if (owner.start === undefined) return true;
  const start = processStartTime(owner.pid);
  // Unknown start time (no procfs, no ps): trust the signal check.
  return start === undefined || start === owner.start;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/** Whether the lock at `path` is held by a live process (on this host; another host's lock counts as held). */
export function lockHolder(path: string): LockOwner | undefined {
  const owner = readOwner(path);
  if (!owner) return undefined;
  if (owner.host === hostname() && !ownerAlive(owner)) return undefined;
  if (slurmLockEnded(owner)) return undefined;
  return owner;
}

/**
 * A lock taken inside a Slurm job is stale once Slurm says that job ended (cancelled, timed out, its
 * node failed), whichever host it ran on. Without a job id, another host's lock is never judged.
 */
function slurmLockEnded(owner: LockOwner): boolean {
  return owner.slurm_job !== undefined && slurmJobEnded(owner.slurm_job) === true;
}

/** How to tell the user who holds a lock (and, for a lock nobody can judge stale, how to clear it). */
export function describeOwner(owner: LockOwner, lockPath: string): string {
  const who = `pid ${owner.pid} on ${owner.host}${owner.slurm_job ? ` (Slurm job ${owner.slurm_job})` : ''} since ${owner.since}`;
  if (owner.slurm_job || owner.host === hostname()) return who;
  return `${who}; sps cannot see processes on ${owner.host}: if that run is gone, delete ${lockPath}`;
}

/**
 * An exclusive lock on one run folder: the file is created with O_EXCL and names its owner's pid,
 * start time and host. A lock left by a killed process on this host is stale the moment its pid is
 * gone, or names a process that started at another time (the pid was reused), so a sweep restarted
 * right after a SIGKILL picks its cells up at once (mtime-based lock libraries would make it wait
 * out a timeout). Locks of other hosts are broken only when they name a Slurm job that ended.
 */
export function acquireLock(path: string): LockResult {
  const slurmJob = currentSlurmJob();
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), start: processStartTime(process.pid), ...(slurmJob ? { slurm_job: slurmJob } : {}) };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      let released = false;
      return {
        ok: true,
        release: () => {
          if (released) return;
          released = true;
          const owner = readOwner(path);
          if (owner && owner.pid === me.pid && owner.host === me.host) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readOwner(path);
    if (owner && lockHolder(path)) return { ok: false, owner };
    if (!owner) {
      // Created but not yet written by its owner, or left empty by a crash between open and write.
      // Wait a moment once before treating it as stale.
      if (attempt === 0) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        continue;
      }
    }
    // Stale: move it aside (rename is atomic, so only one contender wins), then retry the O_EXCL create.
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = readOwner(aside);
    if (moved && ((moved.host === me.host && ownerAlive(moved)) || (moved.slurm_job !== undefined && !slurmLockEnded(moved)))) {
      // Between our check and the rename another process took the lock afresh: hand it back.
      renameSync(aside, path);
      return { ok: false, owner: moved };
    }
    rmSync(aside, { force: true });
  }
  const owner = readOwner(path);
  return { ok: false, owner: owner ?? { pid: -1, host: 'unknown', since: '' } };
}
