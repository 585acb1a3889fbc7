import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { FsError } from './errors.js';
import { processAlive } from './process.js';

/** Name of a temporary sibling of `path`; `isTempName` recognises it so scanners can skip it. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export function isTempName(name: string): boolean {
  return /\.(?:tmp|old)-\d+-[0-9a-f]{8}$/.test(name);
}

/** The pid in the name of a temporary file or folder of `tempSibling` or `replaceDir`, if it is one. */
export function tempPid(name: string): number | undefined {
  const m = /^\..*\.(?:tmp|old)-(\d+)-[0-9a-f]{8}$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Remove the entries of `dir` that a process now gone left behind (a kill in the middle of a write
 * or an install): `pidOf` names the process that made an entry, or undefined for entries to keep.
 * Those of a live process are its work in progress.
 */
export function removeStale(dir: string, pidOf: (name: string) => number | undefined): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = pidOf(name);
    if (pid === undefined || pid === process.pid || processAlive(pid)) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
    } catch {
      // Someone else's file, or a read-only folder: it stays hidden and is skipped by every reader.
    }
  }
}

/**
 * Put the folder `staged` (complete and flushed) in the place of `target` with renames only: a reader
 * sees the old folder or the new one, never a mixture. The old one is renamed aside, then removed;
 * a kill between the two renames leaves the old one at `.NAME.old-PID-…` beside `target`, which the
 * next report removes (removeStale).
 */
export function replaceDir(staged: string, target: string): void {
  const parent = dirname(target);
  const aside = join(parent, `.${basename(target)}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
  const had = existsSync(target);
  try {
    if (had) renameSync(target, aside);
    renameSync(staged, target);
  } catch (e) {
    if (had && !existsSync(target) && existsSync(aside)) renameSync(aside, target);
    throw new FsError(target, 'rename', e);
  }
  fsyncDir(parent);
  if (had) rmSync(aside, { recursive: true, force: true });
}

function fsyncDir(dir: string): void {
  // Directory fsync makes the rename itself durable; some file systems refuse it, which is harmless.
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not supported here */
  }
}

/**
 * Write `data` so that a reader (or a process restarted after SIGKILL) sees either the old file or the
 * complete new one, never a prefix: write a temp file in the same directory, fsync, then rename.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  ensureDir(dirname(path));
  const tmp = tempSibling(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    // Named by the file meant, not the temp file: a failed writeSync (ENOSPC) carries no path at all.
    throw new FsError(path, 'write', e);
  }
  fsyncDir(dirname(path));
}

/** mkdir -p, failing with an FsError that names the directory and says why. */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new FsError(dir, 'create the directory', (e as NodeJS.ErrnoException).code === 'ENOENT' ? (realMkdirError(dir) ?? e) : e);
  }
}

/**
 * Why `mkdir -p dir` failed, where Node's recursive mkdir reports ENOENT for any failure below an
 * existing folder (on a read-only file system, EROFS): the error of creating the first missing
 * folder on its own.
 */
function realMkdirError(dir: string): unknown {
  let missing = dir;
  while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing);
  try {
    mkdirSync(missing);
    return undefined;
  } catch (e) {
    return e;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Parsed JSON, or undefined when the file does not exist. A file that exists but does not parse throws. */
export function readJsonIfExists<T = unknown>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}
