import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
