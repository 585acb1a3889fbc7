import { determiningConfig } from '../config/cells.js';
import { ABSENT_MEANS } from '../core/constants.js';
import type { CellConfig } from '../core/task.js';
import { isMapping } from '../util/tree.js';

/**
 * What a run's config.json says about its setting: the keys that decide its result (`settingsOf`),
 * where two settings differ, and the value of one key path, as tables label their rows by it.
 */

/** Where two JSON values differ: dotted paths (`a.b[2]`) with the value on each side; [] when equal. */
export function configDiffs(a: unknown, b: unknown, prefix = ''): { path: string; a: unknown; b: unknown }[] {
  if (isMapping(a) && isMapping(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => configDiffs(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((x, i) => configDiffs(x, b[i], `${prefix}[${i}]`));
  }
  if (Object.is(a, b)) return [];
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && JSON.stringify(a) === JSON.stringify(b)) return [];
  return [{ path: prefix === '' ? '(root)' : prefix, a, b }];
}

/** Dotted paths (`a.b[2]`) at which two JSON values differ; [] when they are equal. */
export function configDiffPaths(a: unknown, b: unknown): string[] {
  return configDiffs(a, b).map((d) => d.path);
}

/**
 * The settings of a run that decide its result, without the seed: for a config written by `sps run`,
 * the part its run id hashes (config/cells.ts `determiningConfig`), so two runs with equal settings
 * are repeats of one experiment over seeds; for any other config, the config without seed,
 * experiment and back end.
 */
export function settingsOf(config: Record<string, unknown>): Record<string, unknown> {
  const isCell = isMapping(config.train) && isMapping(config.scaling) && typeof config.mode === 'string';
  const { seed: _seed, experiment: _e, backend: _b, ...rest } = isCell ? determiningConfig(config as unknown as CellConfig) : config;
  return rest;
}

/** The value at a dotted key path of a JSON tree; undefined when absent. */
export function valueAt(tree: unknown, key: string): unknown {
  let node = tree;
  for (const k of key.split('.')) {
    if (!isMapping(node) || !Object.hasOwn(node, k)) return undefined;
    node = node[k];
  }
  return node;
}

/**
 * A --by key's value in a setting: the stored value, or for a key stored as absent at its default
 * (`ABSENT_MEANS`) that default, when the cell's mode reads the key (it is in the run id once set).
 */
export function byValue(settings: Record<string, unknown>, key: string): unknown {
  const v = valueAt(settings, key);
  if (v !== undefined || !(key in ABSENT_MEANS)) return v;
  const path = key.split('.');
  // The settings are a cell config without seed, experiment and back end: the run-id rule applies.
  const filled = structuredClone(settings);
  let node: Record<string, unknown> = filled;
  for (const k of path.slice(0, -1)) {
    if (!isMapping(node[k])) return undefined;
    node = node[k] as Record<string, unknown>;
  }
  node[path.at(-1)!] = ABSENT_MEANS[key];
  return valueAt(settingsOf(filled), key);
}

/** A run's value of a swept key, as `sps table --by` labels it: undefined where the run's mode does not read the key. */
export function settingValue(config: Record<string, unknown>, key: string): unknown {
  return byValue(settingsOf(config), key);
}

