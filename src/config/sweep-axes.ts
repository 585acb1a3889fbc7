import { SpsError } from '../util/errors.js';
import { isMapping } from '../util/tree.js';
import { canonicalJson } from './cells.js';
import { multirunValues, overrideOrigin, type Override, type OverrideInput } from './overrides.js';
import type { PathKey } from './yaml-file.js';

/**
 * The axes of a sweep: `key=a,b` on the command line, or the file's top-level `sweep:` mapping of
 * key path to list, each checked (a key that may be swept, distinct values); the command line wins
 * over the file.
 */

/** A file's top-level `sweep:` section as written, and where its keys are, for errors. */
export interface FileSweep {
  raw: unknown;
  at: (path: PathKey[]) => string;
}

/** Keys that are not settings of a cell: the grid's own axes, the folder's name, the task, and the back end (in no run id). */
const UNSWEEPABLE: Record<string, string> = {
  name: 'the experiment name names the results folder; run the sweep under one name',
  task: 'a task is a block of its own; list each task under blocks:',
  objectives: 'objectives are an axis of the grid already; list them: objectives=[a,b]',
  modes: 'modes are an axis of the grid already; list them: modes=[a,b]',
  seeds: 'seeds are an axis of the grid already; list them in brackets: seeds=[0,1]',
  backend: 'the back end is in no run id, so both values would be the same cells',
};

export interface Axis {
  key: string;
  /** Where the sweep is written, for errors. */
  where: string;
  values: OverrideInput[];
}

/** A command-line multirun override as an axis; [] for an ordinary override. */
function cliAxis(text: string): Axis[] {
  const parts = multirunValues(text);
  if (parts === undefined) return [];
  const key = text.slice(0, text.indexOf('=')).trim();
  const where = `command-line override '${text}'`;
  checkSweepKey(where, key);
  const empty = parts.findIndex((p) => p === '');
  if (empty >= 0)
    throw new SpsError(
      `${where}: value ${empty + 1} of ${parts.length} is empty; separate the values by single commas (${key}=a,b), or put a list in brackets (${key}=[a,b])`,
    );
  checkDistinct(where, key, parts);
  // Without a value: the loader types each text by the block's schema, as any override.
  return [{ key, where, values: parts.map((p) => ({ text: `${key}=${p}`, origin: `${where} (value '${p}')` })) }];
}

function checkSweepKey(where: string, key: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/.test(key))
    throw new SpsError(`${where}: '${key}' is not a key path (use dots between keys, e.g. train.lr)`);
  const why = UNSWEEPABLE[key];
  if (why) throw new SpsError(`${where}: ${key} cannot be swept: ${why}`);
}

function checkDistinct(where: string, key: string, values: unknown[]): void {
  const texts = values.map((v) => canonicalJson(v));
  const twice = texts.findIndex((t, i) => texts.indexOf(t) !== i);
  if (twice < 0) return;
  const shown = typeof values[twice] === 'string' ? values[twice] : texts[twice];
  throw new SpsError(`${where}: ${key}: the value ${shown} is listed twice; each value of a sweep must differ`);
}

/** The file's `sweep:` mapping (key path → non-empty list of values) as axes, in the file's order. */
function fileAxes(file: string, sweep: FileSweep | undefined): Axis[] {
  if (!sweep) return [];
  const { raw, at } = sweep;
  if (!isMapping(raw))
    throw new SpsError(`${at(['sweep'])}: sweep: expected a mapping from key path to a list of values, e.g. sweep: {train.lr: [0.001, 0.01]}`);
  return Object.entries(raw).map(([key, list]) => {
    const where = at(['sweep', key]);
    checkSweepKey(`${where}: sweep`, key);
    if (!Array.isArray(list))
      throw new SpsError(`${where}: sweep.${key}: expected a list of values, e.g. [0.001, 0.01] (for one value, set the key itself instead)`);
    if (list.length === 0) throw new SpsError(`${where}: sweep.${key}: the list is empty; give at least one value`);
    checkDistinct(`${where}: sweep`, key, list);
    return {
      key,
      where,
      values: list.map((value: unknown, i) => ({ text: `${key}=${JSON.stringify(value)}`, value, origin: `${at(['sweep', key, i])}: sweep.${key}[${i}]` })),
    };
  });
}

/**
 * The sweep's axes: the command line's, then the file's. The command line wins over the file (as in
 * Hydra): a key it sets or sweeps is no longer swept by the file, and a note says so.
 */
export function sweepAxes(
  file: string,
  sweep: FileSweep | undefined,
  overrideTexts: readonly string[],
  overrides: readonly Override[],
): { axes: Axis[]; notes: string[] } {
  const cli = overrideTexts.flatMap((t) => cliAxis(t));
  const notes: string[] = [];
  const fromFile = fileAxes(file, sweep).filter((a) => {
    const by =
      overrides.find((o) => o.path.join('.') === a.key || a.key.startsWith(`${o.path.join('.')}.`))?.text.replace(/^|$/g, "'") ??
      cli.find((c) => c.key === a.key)?.where.replace(/^command-line override /, '');
    if (by !== undefined) notes.push(`command-line override ${by} replaces the file's sweep of ${a.key} (${a.values.length} values, ${a.where})`);
    return by === undefined;
  });
  return { axes: [...cli, ...fromFile], notes };
}

/** Axis `i` is the only one of its key, and no plain override sets that key. */
export function checkAxis(axes: readonly Axis[], i: number, overrides: readonly Override[]): void {
  const a = axes[i];
  const again = axes.findIndex((b) => b.key === a.key);
  if (again !== i) throw new SpsError(`${a.where}: ${a.key} is swept twice (also by ${axes[again].where}); give all its values in one place`);
  const fixed = overrides.find((o) => o.path.join('.') === a.key);
  if (fixed) throw new SpsError(`${a.where}: ${a.key} is swept and also set by ${overrideOrigin(fixed)}; drop one of them`);
}
