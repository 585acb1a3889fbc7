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
