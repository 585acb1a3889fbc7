import { z } from 'zod';
import { keysOf, type Override } from './overrides.js';

/**
 * Which blocks each command-line override reached. An override applies to every block whose schema
 * has its key, and is an error only when no block has it; the error then says, per block, where
 * the key's path leaves the schema.
 */

/** Why an override does not reach a block: its path leaves the schema at `path[at]`. */
export interface Miss {
  /** The block, as errors name it. */
  block: string;
  at: number;
  /** The keys allowed at `path[0..at)`; undefined when that is not a section but a value. */
  allowed?: string[];
}

/** What loading a file found out about the command-line overrides, by their index. */
export interface OverrideReach {
  /** Parsed, for the overrides that applied to at least one block so far. */
  applied: (Override | undefined)[];
  /** For each override, the blocks it did not reach, and why. */
  misses: Miss[][];
}

export function emptyReach(n: number): OverrideReach {
  return { applied: Array<Override | undefined>(n).fill(undefined), misses: Array.from({ length: n }, () => []) };
}

export function mergeReach(into: OverrideReach, from: OverrideReach): void {
  from.applied.forEach((o, i) => (into.applied[i] ??= o));
  from.misses.forEach((m, i) => into.misses[i].push(...m));
}

/** Where `path` leaves `schemaFor`'s schema (it has `path[0..at)` but not `path[0..at]`). */
export function missOf(block: string, path: string[], schemaFor: (path: string[]) => z.ZodType | undefined): Miss {
  let at = path.length - 1;
  while (at > 0 && schemaFor(path.slice(0, at)) === undefined) at--;
  const parent = schemaFor(path.slice(0, at));
  return { block, at, allowed: parent instanceof z.ZodObject || parent instanceof z.ZodRecord ? keysOf(parent) : undefined };
}

/**
 * An override no block has the key of. Where every block says the same (a file of one block, or of
 * one task), the message is that block's; otherwise it lists what each block allows there.
 */
export function unreachedOverride(origin: string, path: string[], misses: Miss[]): string {
  const key = path.join('.');
  const why = (m: Miss) => (m.allowed ? `allows: ${m.allowed.join(', ') || 'no keys'}` : `'${path.slice(0, m.at).join('.')}' is not a section`);
  const [first] = misses;
  if (misses.every((m) => m.at === first.at && why(m) === why(first))) {
    return first.allowed
      ? `${origin}: ${key}: unknown key (allowed here: ${first.allowed.join(', ') || 'none'})`
      : `${origin}: '${path.slice(0, first.at).join('.')}' is not a section, so it has no key '${path[first.at]}'`;
  }
  return `${origin}: ${key}: no block has this key (${misses.map((m) => `${m.block} ${why(m)}`).join('; ')})`;
}
