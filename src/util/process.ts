import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

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

/**
 * Whether process `pid` of this host still runs and, when `start` (a processStartTime value) is
 * given, is the same process that had that start time: a pid is reused once its process is gone,
 * pid and start time together are not. Used for lock owners and for staging folders named by pid.
 */
export function processAlive(pid: number, start?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const fields = procStat(pid);
  // A killed worker whose parent died too stays a zombie until init reaps it: signalable, but gone.
  if (fields === null || (fields && fields[0] === 'Z')) return false;
  if (start === undefined) return true;
  const now = processStartTime(pid);
  // Unknown start time (no procfs, no ps): trust the signal check.
  return now === undefined || now === start;
}
