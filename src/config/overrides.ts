import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SpsError } from '../util/errors.js';

export interface Override {
  /** As typed on the command line, for error messages. */
  text: string;
  path: string[];
  value: unknown;
  /** How errors name where the override comes from, when not the command line (a `sweep:` entry). */
  origin?: string;
}

/**
 * What a file is loaded with: override texts as typed, or one with where it comes from for errors (a
 * value of a sweep) and, for a value of a `sweep:` list, its value as the YAML typed it.
 */
export type OverrideInput = string | { text: string; value?: unknown; origin: string };

export const inputText = (i: OverrideInput): string => (typeof i === 'string' ? i : i.text);

/** The start of an error about override `o`: where it comes from. */
export const overrideOrigin = (o: Pick<Override, 'text' | 'origin'>): string => o.origin ?? `command-line override '${o.text}'`;

/**
 * The values of a multirun override `key=a,b,c` (Hydra's form), or undefined for an ordinary one.
 * Only commas outside brackets, braces and quotes separate values, so a YAML flow list stays one
 * value (`seeds=[0,1]`, `scaling.alpha_grid=[0.5,1]`) and `key=[0.5,1],[1,2]` sweeps over two lists.
 */
export function multirunValues(text: string): string[] | undefined {
  const eq = text.indexOf('=');
  if (eq <= 0) return undefined;
  const raw = text.slice(eq + 1);
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      parts.push(raw.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(raw.slice(start));
  return parts.length > 1 ? parts.map((p) => p.trim()) : undefined;
}

/** The keys of a section's schema; [] for anything that is not an object schema. */
export function keysOf(s: z.ZodType | undefined): string[] {
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** The schema found at `path` below `schema`, looking through defaults, optionals and pipes. */
export function schemaAt(schema: z.ZodType, path: string[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = schema;
  for (const key of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[key];
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else return undefined;
    if (!s) return undefined;
  }
  return s && unwrap(s);
}

function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
      s = s.def.innerType as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      s = s.def.in as z.ZodType;
    } else {
      return s;
    }
  }
}

function wantsString(s: z.ZodType | undefined): boolean {
  return s instanceof z.ZodString || s instanceof z.ZodEnum || s instanceof z.ZodLiteral;
}

/**
 * Parse `key.path=value`. The value is read as YAML (so `3`, `1e-3`, `true`, `[0,1]`, `{a: 1}` and
 * `null` get their natural types); where the schema expects a string, the text is kept verbatim
 * (`name=2024` stays the string "2024"). `schemaFor` supplies the schema of a path, so task sections
 * (`data.*`, `model.*`) are typed by the task's own schema.
 */
export function parseOverride(text: string, schemaFor: (path: string[]) => z.ZodType | undefined): Override {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new SpsError(`override '${text}': expected key.path=value (e.g. train.epochs=3)`);
  const key = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1);
  const path = key.split('.');
  if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p))) {
    throw new SpsError(`override '${text}': '${key}' is not a key path (use dots between keys, e.g. scaling.selection.size=200)`);
  }
  let value: unknown;
  if (wantsString(schemaFor(path))) {
    value = raw;
  } else {
    try {
      value = raw.trim() === '' ? '' : parseYaml(raw);
    } catch (e) {
      throw new SpsError(`override '${text}': the value is not valid YAML (${(e as Error).message.split('\n')[0]})`);
    }
  }
  const target = schemaFor(path);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && target instanceof z.ZodObject) {
    const [k, v] = Object.entries(value as Record<string, unknown>)[0] ?? ['epochs', 1];
    throw new SpsError(
      `override '${text}': ${key} is a section, and a mapping would replace all of it (its other keys going back to their defaults); set its keys one by one, e.g. ${key}.${k}=${JSON.stringify(v)}`,
    );
  }
  return { text, path, value };
}

/**
 * Command-line overrides that set the same key to two values, or a key and a section holding it
 * (`train.lr=0.1 train.lr=0.2`): refused, since only one of the values could be used. The same
 * override twice (a script adding what its caller gave too) is harmless.
 */
export function checkRepeatedKeys(texts: readonly string[]): void {
  const keys = texts.map((t) => (t.includes('=') ? t.slice(0, t.indexOf('=')).trim() : undefined));
  const value = (t: string): string => t.slice(t.indexOf('=') + 1).trim();
  keys.forEach((key, i) => {
    if (key === undefined) return;
    const clash = (other: string | undefined, n: number): boolean =>
      n < i && other !== undefined && ((other === key && value(texts[n]) !== value(texts[i])) || other.startsWith(`${key}.`) || key.startsWith(`${other}.`));
    const j = keys.findIndex(clash);
    if (j >= 0) throw new SpsError(`command-line override '${texts[i]}': ${key} is already set by '${texts[j]}'; give each key once`);
  });
}

/** Set `value` at `path` in a plain object tree, creating intermediate maps; a scalar in the way is an error. */
export function applyOverride(root: Record<string, unknown>, o: Override): void {
  let node = root;
  for (let i = 0; i < o.path.length - 1; i++) {
    const k = o.path[i];
    const next = node[k];
    if (next === undefined || next === null) {
      node[k] = {};
    } else if (typeof next !== 'object' || Array.isArray(next)) {
      throw new SpsError(`override '${o.text}': '${o.path.slice(0, i + 1).join('.')}' is not a section, so it has no key '${o.path[i + 1]}'`);
    }
    node = node[k] as Record<string, unknown>;
  }
  node[o.path[o.path.length - 1]] = o.value;
}
