import { statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * An error meant for the person at the terminal: the CLI prints its message without a stack trace
 * and exits with `exitCode`. Messages name the file, key or line at fault and what to do about it.
 */
export class SpsError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'SpsError';
    this.exitCode = exitCode;
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The cause of a file-system error in words, and what a user can do about it, by errno code. */
const FS_CAUSES: Record<string, [cause: string, advice: string]> = {
  ENOSPC: ['no space left on the device', 'free some space there, or write elsewhere (--out DIR)'],
  EDQUOT: ['the disk quota is exhausted', 'free some space there, or write elsewhere (--out DIR)'],
  EROFS: ['the file system is read-only', 'write elsewhere (--out DIR), or remount it read-write'],
  EACCES: ['permission denied', 'check the permissions of that path, or write elsewhere (--out DIR)'],
  EPERM: ['operation not permitted', 'check the permissions of that path, or write elsewhere (--out DIR)'],
  ENAMETOOLONG: ['the path or a name in it is too long', 'use a shorter path (--out) or experiment name'],
  ENOENT: ['no such file or directory', 'check the path'],
  EISDIR: ['it is a directory, where a file is needed', 'move that directory away, or use another path'],
  EMFILE: ['too many open files', 'run fewer cells at once (--jobs), or raise the limit (ulimit -n)'],
  ENFILE: ['too many open files on the system', 'run fewer cells at once (--jobs), or close other programs'],
  EIO: ['an input/output error of the device', 'check the disk (dmesg), then run the same command again'],
};

/** The nearest existing ancestor of `path` (or `path` itself) that is not a directory. */
function fileInTheWay(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    try {
      return statSync(p).isDirectory() ? undefined : p;
    } catch {
      if (dirname(p) === p) return undefined;
    }
  }
}

/**
 * A file-system failure of `action` ('write', 'create the directory', …) on `path`, as one line:
 * the path, the cause in words with its code, and what to do. `code` stays readable for callers.
 */
export class FsError extends SpsError {
  readonly code: string;
  constructor(path: string, action: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'unknown';
    const blocker = code === 'EEXIST' || code === 'ENOTDIR' ? fileInTheWay(path) : undefined;
    const [what, advice] = blocker
      ? [`${blocker} is a file, not a directory`, 'move that file away, or choose another path (--out DIR)']
      : (FS_CAUSES[code] ?? [
          errorMessage(cause)
            .replace(/^\w+: /, '')
            .split('\n')[0],
          'check that path',
        ]);
    super(`${path}: cannot ${action}: ${what} (${code}); ${advice}`);
    this.name = 'FsError';
    this.code = code;
  }
}

/**
 * A Node system error (it has an errno `code` and a `syscall`), as an FsError naming its path; for
 * errors that reach the CLI without passing through the file helpers of ./fsx.ts.
 */
export function asFsError(e: unknown): FsError | undefined {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (!(e instanceof Error) || typeof err.code !== 'string' || typeof err.syscall !== 'string' || typeof err.errno !== 'number') return undefined;
  return new FsError(err.path ?? '(path not given)', SYSCALL_WORDS[err.syscall] ?? err.syscall, e);
}

/** The error as one a user can act on (an SpsError, or a file-system error named by its path), else undefined. */
export function userError(e: unknown): SpsError | undefined {
  return e instanceof SpsError ? e : asFsError(e);
}

const SYSCALL_WORDS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create the directory',
  scandir: 'list the directory',
  rename: 'rename',
  unlink: 'delete',
  rmdir: 'remove the directory',
  stat: 'read',
  lstat: 'read',
  copyfile: 'copy',
};
