import { join } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../util/paths.js';

/**
 * The embedded samples (samples/README.md): small real excerpts of every data set, laid out like the
 * prepared data sets, so a task reads them through the same loaders from another root folder.
 */
export function samplesDir(): string {
  return join(packageRoot(), 'samples');
}

/**
 * `data.source` of every task: `full` (the default: the prepared data set under the data folder) or
 * `sample` (the embedded sample). `full` is stored as an absent key, so configs written before the
 * key existed keep their run ids, and writing `source: full` out changes nothing.
 */
export const dataSourceSchema = z
  .enum(['full', 'sample'])
  .optional()
  .transform((v) => (v === 'sample' ? ('sample' as const) : undefined));

/** The folder a task reads its data sets from. */
export function dataRoot(source: 'sample' | undefined, dataDir: string): string {
  return source === 'sample' ? samplesDir() : dataDir;
}
