import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { FsError, SpsError } from '../util/errors.js';
import { processAlive, processStartTime } from '../util/process.js';
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

export { processStartTime };

/** Whether `owner` (a lock of this host) is still the live process that took the lock. */
function ownerAlive(owner: LockOwner): boolean {
  return processAlive(owner.pid, owner.start);
}

function readOwner(path: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/**
 * Whether `owner` still holds its lock: on this host, while its process lives; a lock taken in a Slurm
 * job, until Slurm says the job ended; another host's lock without a job, always.
 */
function holds(owner: LockOwner): boolean {
  if (owner.host === hostname() && !ownerAlive(owner)) return false;
  return !slurmLockEnded(owner);
}

/** The owner of the lock at `path`, when it still holds it (`holds`). */
export function lockHolder(path: string): LockOwner | undefined {
  const owner = readOwner(path);
  return owner && holds(owner) ? owner : undefined;
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
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    start: processStartTime(process.pid),
    ...(slurmJob ? { slurm_job: slurmJob } : {}),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me));
      } catch (e) {
        // A full disk: leave no empty lock behind (the next attempt would wait on it).
        closeSync(fd);
        rmSync(path, { force: true });
        throw e;
      }
      closeSync(fd);
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
    if (owner && holds(owner)) return { ok: false, owner };
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
    if (moved && holds(moved)) {
      // Between our check and the rename another process took the lock afresh: hand it back.
      renameSync(aside, path);
      return { ok: false, owner: moved };
    }
    rmSync(aside, { force: true });
  }
  const owner = readOwner(path);
  return { ok: false, owner: owner ?? { pid: -1, host: 'unknown', since: '' } };
}

/** How long `withLock` waits for a short critical section of another process before giving up. */
const WITH_LOCK_WAIT_MS = 60_000;

/**
 * Run `fn` holding the lock at `path` (acquireLock: a lock of a process that is gone is taken over),
 * waiting while another live process holds it: for short read-modify-write updates of a shared file
 * such as sweep.json, so that two sweeps never lose each other's changes.
 */
export function withLock<T>(path: string, what: string, fn: () => T): T {
  const deadline = Date.now() + WITH_LOCK_WAIT_MS;
  for (;;) {
    let lock: LockResult;
    try {
      lock = acquireLock(path);
    } catch (e) {
      // The lock cannot even be created (a read-only or full disk): name the file being updated.
      throw new FsError(what, 'update', e);
    }
    if (lock.ok) {
      try {
        return fn();
      } finally {
        lock.release();
      }
    }
    if (Date.now() > deadline) {
      throw new SpsError(
        `${path}: held by ${describeOwner(lock.owner, path)} for over ${WITH_LOCK_WAIT_MS / 1000} s while sps updates ${what}; if that process is gone, delete ${path} and run the same command again`,
      );
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}
