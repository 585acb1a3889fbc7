import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpsError } from './errors.js';

/** The installed package's root (where package.json, reference/ and configs/ live), from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('sps: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** Where prepared data sets live: $SPS_DATA_DIR, or ./datasets under the working directory. */
export function datasetsDir(): string {
  return resolve(process.env.SPS_DATA_DIR ?? 'datasets');
}

/**
 * The parser of a folder option (`--out`): an empty value would silently mean the current folder,
 * and a control character (a newline) has no place in a results path and would break the lines of
 * logs and Slurm scripts that name it.
 */
export function folderOption(option: string): (value: string) => string {
  return (value) => {
    if (value.trim() === '') throw new SpsError(`${option}: the folder is empty; give a path (${option} DIR), or leave ${option} out for the default`);
    // eslint-disable-next-line no-control-regex -- control characters are what this looks for
    if (/[\x00-\x1f\x7f]/.test(value))
      throw new SpsError(`${option} ${JSON.stringify(value)}: the path holds a control character (a newline?); give a plain path`);
    return value;
  };
}
