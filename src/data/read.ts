import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { SpsError } from '../util/errors.js';

/** The file readDataText reads for `path`: `path` itself, or `path.gz` when only the gzipped copy exists. */
export function dataFileOf(path: string): string {
  return existsSync(path) || !existsSync(`${path}.gz`) ? path : `${path}.gz`;
}

/**
 * The text of a data file, read from `path` or, when only a gzipped copy exists, from `path.gz`
 * (the embedded samples are stored gzipped under the prepared files' names). `what` and `hint` go
 * into the error: what the file is, and what to do when it cannot be read.
 */
export function readDataText(path: string, what: string, hint: string): string {
  const file = dataFileOf(path);
  try {
    const bytes = readFileSync(file);
    return (file === path ? bytes : gunzipSync(bytes)).toString('utf8');
  } catch (e) {
    throw new SpsError(`${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${hint}`);
  }
}
