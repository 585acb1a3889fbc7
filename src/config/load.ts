import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { SpsError } from '../util/errors.js';
import type { TaskDefinition } from '../core/task.js';
import { experimentSchema, type Experiment } from './experiment.js';
import { canonicalJson } from './cells.js';
import {
  applyOverride,
  checkRepeatedKeys,
  inputText,
  multirunValues,
  overrideOrigin,
  parseOverride,
  schemaAt,
  type Override,
  type OverrideInput,
} from './overrides.js';

export interface LoadedBlock {
  experiment: Experiment;
  task: TaskDefinition;
  /**
   * For a block taken from another file (`- include: ocr.yaml`): where that file puts the block
   * when run on its own, as path segments under the results root (['ocr'], or for a block of a
   * multi-block file ['smoke', 'ocr']).
   */
  included?: string[];
  /** The key paths (dotted) of the overrides that reached this block. */
  overridden: string[];
  /**
   * With a sweep (`key=a,b` on the command line, or the file's `sweep:`): one experiment per
   * combination of the swept values, in sweep order, with the values of the keys this block has.
   */
  variants?: SweepVariant[];
}

export interface SweepVariant {
  /** Swept key path (dotted) → its value in this variant; only keys the block has. */
  swept: Record<string, unknown>;
  experiment: Experiment;
}

export interface LoadedExperiment {
  file: string;
  /** The experiment's name (shared by all blocks). */
  name: string;
  /** One block per task of the file: the file itself, or each entry of its `blocks` list. */
  blocks: LoadedBlock[];
  /** The first block (what a single-block file holds). */
  experiment: Experiment;
  task: TaskDefinition;
  overrides: Override[];
  /** The swept key paths (dotted), in sweep order; empty without a sweep. */
  sweepKeys: string[];
  /** What the user should know about how the command line changed the file's sweep (one line each). */
  notes: string[];
  /** The file's top-level `launcher:` section, unvalidated (train/launchers/settings.ts checks it). */
  launcher?: unknown;
}

type PathKey = string | number;

/** Source position of the node at `path` (for an unknown key: of the key itself), 1-based. */
function locate(doc: Document, lc: LineCounter, path: PathKey[], unknownKey?: string): { line: number; col: number } | undefined {
  let node: unknown = doc.contents;
  let best: [number, number, number] | undefined = (node as YamlNode | null)?.range ?? undefined;
  const steps: PathKey[] = unknownKey === undefined ? path : [...path, unknownKey];
  for (let i = 0; i < steps.length; i++) {
    const key = steps[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) break;
      const isLastUnknown = unknownKey !== undefined && i === steps.length - 1;
      if (isLastUnknown && isScalar(pair.key) && pair.key.range) {
        best = pair.key.range;
        break;
      }
      node = pair.value;
      const r = (pair.value as YamlNode | null)?.range ?? (isScalar(pair.key) ? pair.key.range : undefined);
      if (r) best = r;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      const r = (node as YamlNode | null)?.range;
      if (r) best = r;
    } else {
      break;
    }
  }
  return best ? lc.linePos(best[0]) : undefined;
}

function formatPath(path: PathKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';
}

/** How the errors of one block begin: with the override that set the key, or where the key is written. */
interface Blame {
  /** `command-line override 'TEXT': ` and, in a file of several blocks, the block. */
  override(o: Override): string;
  /** `FILE:LINE:COL: ` and, in a file of several blocks, the block; for an unknown key, where it is written. */
  file(path: PathKey[], unknownKey?: string): string;
}

/** The override that set `path` (or a section above it, or a key below it), if any. */
function overrideAt(overrides: Override[], path: PathKey[]): Override | undefined {
  return overrides.find((o) => (o.path.length <= path.length ? o.path.every((p, i) => String(path[i]) === p) : path.every((p, i) => String(p) === o.path[i])));
}

/** One line per problem: `file:line:col: key.path: message`, or the override that set the key. */
function describeIssues(
  blame: Blame,
  overrides: Override[],
  allowedKeys: (path: PathKey[]) => string[],
  issues: z.core.$ZodIssue[],
  prefix: PathKey[] = [],
): string {
  const lines = issues.map((iss) => {
    const path = [...prefix, ...(iss.path as PathKey[])];
    const unknown = iss.code === 'unrecognized_keys' ? iss.keys : undefined;
    const keyPaths = unknown ? unknown.map((k) => formatPath([...path, k])) : [formatPath(path)];
    const message = unknown ? `unknown key${unknown.length > 1 ? 's' : ''} (allowed here: ${allowedKeys(path).join(', ') || 'none'})` : iss.message;
    const fromOverride = overrideAt(overrides, unknown ? [...path, unknown[0]] : path);
    return `${fromOverride ? blame.override(fromOverride) : blame.file(path, unknown?.[0])}${keyPaths.join(', ')}: ${message}`;
  });
  return lines.join('\n');
}

function keysOf(s: z.ZodType | undefined): string[] {
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

const isMapping = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

/** `base` with `over` laid on top: mappings merge key by key, anything else (lists too) is replaced. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) out[k] = isMapping(v) && isMapping(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : structuredClone(v);
  return out;
}

/** Does `tree` hold a value at `path`? */
function has(tree: unknown, path: PathKey[]): boolean {
  let node = tree;
  for (const k of path) {
    if (!isMapping(node) || !(String(k) in node)) return false;
    node = node[String(k)];
  }
  return true;
}

interface Source {
  file: string;
  doc: Document;
  lc: LineCounter;
  overrideTexts: OverrideInput[];
  /** The tasks a block may name (built in and plugins; the caller's task registry). */
  tasks: readonly TaskDefinition[];
  /** Whether another file includes this one (an override's error then names this file). */
  included: boolean;
}

/** Why an override does not reach a block: its path leaves the schema at `path[at]`. */
interface Miss {
  /** The block, as errors name it. */
  block: string;
  at: number;
  /** The keys allowed at `path[0..at)`; undefined when that is not a section but a value. */
  allowed?: string[];
}

/** What loading a file found out about the command-line overrides, by their index. */
interface OverrideReach {
  /** Parsed, for the overrides that applied to at least one block so far. */
  applied: (Override | undefined)[];
  /** For each override, the blocks it did not reach, and why. */
  misses: Miss[][];
}

function emptyReach(n: number): OverrideReach {
  return { applied: Array<Override | undefined>(n).fill(undefined), misses: Array.from({ length: n }, () => []) };
}

function mergeReach(into: OverrideReach, from: OverrideReach): void {
  from.applied.forEach((o, i) => (into.applied[i] ??= o));
  from.misses.forEach((m, i) => into.misses[i].push(...m));
}

/** Where `path` leaves `schemaFor`'s schema (it has `path[0..at)` but not `path[0..at]`). */
function missOf(block: string, path: string[], schemaFor: (path: string[]) => z.ZodType | undefined): Miss {
  let at = path.length - 1;
  while (at > 0 && schemaFor(path.slice(0, at)) === undefined) at--;
  const parent = schemaFor(path.slice(0, at));
  return { block, at, allowed: parent instanceof z.ZodObject || parent instanceof z.ZodRecord ? keysOf(parent) : undefined };
}

/**
 * An override no block has the key of. Where every block says the same (a file of one block, or of
 * one task), the message is that block's; otherwise it lists what each block allows there.
 */
function unreachedOverride(origin: string, path: string[], misses: Miss[]): string {
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

/**
 * Validate one block's tree (for a single-block file, the whole file): the task's own schemas type
 * `data` and `model`. `inFile` maps a key path of the tree to where it is written in the file;
 * `label` names the block in errors ('' in a file of one block). An override applies to the block
 * only when the block's schema has its key.
 */
async function loadBlock(
  src: Source,
  tree: Record<string, unknown>,
  inFile: (path: PathKey[]) => PathKey[],
  label: string,
): Promise<{ block: LoadedBlock; reach: OverrideReach }> {
  const { file, doc, lc, overrideTexts } = src;
  // The task decides how data.* and model.* are typed, so look it up before parsing overrides.
  const taskOverride = overrideTexts.map(inputText).find((t) => t.trim().startsWith('task='));
  const taskName = taskOverride ? taskOverride.slice(taskOverride.indexOf('=') + 1).trim() : tree.task;
  const task = typeof taskName === 'string' ? src.tasks.find((t) => t.name === taskName) : undefined;
  const schemaFor = (path: string[]): z.ZodType | undefined => {
    if (path[0] === 'data' && task) return schemaAt(task.dataSchema, path.slice(1));
    if (path[0] === 'model' && task) return schemaAt(task.modelSchema, path.slice(1));
    return schemaAt(experimentSchema, path);
  };
  // At the top of a file of one block, the keys that are not the block's own are allowed too.
  const fileKeys = label === '' && !src.included ? ['sweep', 'blocks', 'launcher'] : [];
  const allowedKeys = (path: PathKey[]): string[] => [...keysOf(schemaFor(path.map(String))), ...(path.length === 0 ? fileKeys : [])];
  const named = label || (typeof taskName === 'string' ? `(${taskName})` : '');
  const overrideName = [src.included ? file : '', label].filter(Boolean).join(' ');
  const blame: Blame = {
    override: (o) => `${overrideOrigin(o)}: ${overrideName ? `${overrideName}: ` : ''}`,
    file: (path, unknownKey) => {
      const pos = locate(
        doc,
        lc,
        inFile(unknownKey === undefined ? path : [...path, unknownKey]).slice(0, unknownKey === undefined ? undefined : -1),
        unknownKey,
      );
      return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${label ? `${label}: ` : ''}`;
    },
  };

  const reach = emptyReach(overrideTexts.length);
  const overrides: Override[] = [];
  overrideTexts.forEach((t, i) => {
    const o: Override =
      typeof t === 'string'
        ? parseOverride(t, schemaFor)
        : 'value' in t
          ? { text: t.text, path: t.text.slice(0, t.text.indexOf('=')).split('.'), value: structuredClone(t.value), origin: t.origin }
          : { ...parseOverride(t.text, schemaFor), origin: t.origin };
    if (schemaFor(o.path) === undefined) {
      reach.misses[i].push(missOf(src.included ? `${file}${named ? ` ${named}` : ''}` : named || file, o.path, schemaFor));
      return;
    }
    applyOverride(tree, o);
    overrides.push(o);
    reach.applied[i] = o;
  });

  const describe = (issues: z.core.$ZodIssue[], prefix: PathKey[] = []) => describeIssues(blame, overrides, allowedKeys, issues, prefix);
  const parsed = experimentSchema.safeParse(tree);
  if (!parsed.success) throw new SpsError(describe(parsed.error.issues));
  const experiment = parsed.data;

  const blameKey = (path: PathKey[]): string => {
    const o = overrideAt(overrides, path);
    return o ? blame.override(o) : blame.file(path);
  };
  if (!task) {
    const known = src.tasks.map((t) => t.name);
    throw new SpsError(`${blameKey(['task'])}task: unknown task '${experiment.task}' (known tasks: ${known.length ? known.join(', ') : 'none registered'})`);
  }
  const data = task.dataSchema.safeParse(experiment.data);
  if (!data.success) throw new SpsError(describe(data.error.issues, ['data']));
  const model = task.modelSchema.safeParse(experiment.model);
  if (!model.success) throw new SpsError(describe(model.error.issues, ['model']));
  experiment.data = data.data;
  experiment.model = model.data;

  for (const problem of task.checkConfig?.(experiment) ?? []) {
    throw new SpsError(`${blameKey(problem.path)}${problem.path.join('.')}: ${problem.message}`);
  }
  const unsupported = experiment.objectives.filter((o) => !task.objectives.includes(o));
  if (unsupported.length > 0) {
    throw new SpsError(
      `${blameKey(['objectives'])}objectives: task '${task.name}' does not support ${unsupported.join(', ')} (it supports: ${task.objectives.join(', ')})`,
    );
  }
  return { block: { experiment, task, overridden: overrides.map((o) => o.path.join('.')) }, reach };
}

/**
 * Read an experiment file, apply `key.path=value` overrides, validate the whole (the task's own
 * schemas for `data` and `model`) and fill defaults. Every error names the file (or the override),
 * the key path, and for file errors the line and column.
 *
 * A file may hold several tasks as a list `blocks:`; each entry is laid over the file's other
 * top-level keys (mappings merge, lists are replaced). A command-line override applies to every
 * block whose schema has its key (`model.preset` only to OCR blocks), and is an error only when no
 * block has it.
 *
 * A sweep (`key=a,b,c` on the command line, see `multirunValues`, or the file's top-level `sweep:`
 * mapping of key path to list) gives each block one variant per combination of the swept values
 * (the product, the first key varying slowest). Each value is first loaded on its own, so an error
 * names the one value at fault.
 */
export async function loadExperiment(file: string, tasks: readonly TaskDefinition[], overrideTexts: string[] = []): Promise<LoadedExperiment> {
  const plain = overrideTexts.filter((t) => multirunValues(t) === undefined);
  checkRepeatedKeys(plain);
  const { loaded, overrides, sweep } = await loadChecked(file, tasks, plain);
  const cli = overrideTexts.flatMap((t) => cliAxis(t));
  // The command line wins over the file (as in Hydra): a key it sets or sweeps is no longer swept by the file.
  const notes: string[] = [];
  const fromFile = fileAxes(file, sweep).filter((a) => {
    const by =
      overrides.find((o) => o.path.join('.') === a.key || a.key.startsWith(`${o.path.join('.')}.`))?.text.replace(/^|$/g, "'") ??
      cli.find((c) => c.key === a.key)?.where.replace(/^command-line override /, '');
    if (by !== undefined) notes.push(`command-line override ${by} replaces the file's sweep of ${a.key} (${a.values.length} values, ${a.where})`);
    return by === undefined;
  });
  const axes = [...cli, ...fromFile];
  if (axes.length === 0) return { ...loaded, overrides, sweepKeys: [], notes };
  /** Each swept value as the schema typed it (`0.01` a number, `[0.5,1]` a list), for the records. */
  const typed = new Map<OverrideInput, unknown>();
  for (const [i, a] of axes.entries()) {
    const again = axes.findIndex((b) => b.key === a.key);
    if (again !== i) throw new SpsError(`${a.where}: ${a.key} is swept twice (also by ${axes[again].where}); give all its values in one place`);
    const fixed = overrides.find((o) => o.path.join('.') === a.key);
    if (fixed) throw new SpsError(`${a.where}: ${a.key} is swept and also set by ${overrideOrigin(fixed)}; drop one of them`);
    // Each value alone first, so that an unknown key or a value of the wrong type is blamed on that value.
    for (const v of a.values) typed.set(v, (await loadChecked(file, tasks, [...plain, v])).overrides.at(-1)?.value);
  }
  const combos = axes.reduce<OverrideInput[][]>((acc, a) => acc.flatMap((c) => a.values.map((v) => [...c, v])), [[]]);
  const variants = await Promise.all(combos.map(async (combo) => ({ combo, loaded: (await loadChecked(file, tasks, [...plain, ...combo])).loaded })));
  const blocks = loaded.blocks.map((b, j) => ({
    ...b,
    variants: variants.map(({ combo, loaded: l }) => {
      const block = l.blocks[j];
      const swept: Record<string, unknown> = {};
      combo.forEach((v, k) => {
        if (block.overridden.includes(axes[k].key)) swept[axes[k].key] = typed.get(v);
      });
      return { swept, experiment: block.experiment };
    }),
  }));
  return { ...loaded, blocks, experiment: blocks[0].experiment, overrides, sweepKeys: axes.map((a) => a.key), notes };
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

interface Axis {
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

/** loadFile, then the error for an override no block has. */
async function loadChecked(
  file: string,
  tasks: readonly TaskDefinition[],
  inputs: OverrideInput[],
): Promise<{ loaded: LoadedFile; overrides: Override[]; sweep?: FileSweep }> {
  const { loaded, reach, sweep } = await loadFile(file, tasks, inputs, []);
  const unreached = reach.applied.findIndex((o) => o === undefined);
  if (unreached >= 0) {
    const input = inputs[unreached];
    const text = inputText(input);
    const origin = typeof input === 'string' ? overrideOrigin({ text }) : input.origin;
    throw new SpsError(unreachedOverride(origin, text.slice(0, text.indexOf('=')).trim().split('.'), reach.misses[unreached]));
  }
  return { loaded, overrides: reach.applied.filter((o) => o !== undefined), sweep };
}

/** Experiment files are a few kB of settings; past this size one is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function readConfigText(file: string): string {
  try {
    const { size } = statSync(file);
    if (size > MAX_CONFIG_BYTES) {
      throw new SpsError(
        `${file}: ${(size / 2 ** 20).toFixed(1)} MiB is over the ${MAX_CONFIG_BYTES / 2 ** 20} MiB limit for an experiment file; an experiment file holds settings (a few kB), so check that this is the file you meant`,
      );
    }
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof SpsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new SpsError(`${file}: cannot read the experiment file (${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)})`);
  }
}

/** The file's YAML as plain data; a file whose aliases expand without end (an alias bomb) is refused. */
function toData(file: string, doc: Document): unknown {
  try {
    return doc.toJS();
  } catch (e) {
    if (e instanceof ReferenceError && /alias/i.test(e.message)) {
      throw new SpsError(
        `${file}: too many YAML alias references (*name): the file's aliases expand past the YAML reader's limit, as an alias bomb does; write the values out instead`,
      );
    }
    throw new SpsError(`${file}: cannot read the YAML: ${(e as Error).message}`);
  }
}

type LoadedFile = Omit<LoadedExperiment, 'overrides' | 'sweepKeys' | 'notes'>;

/** A file's top-level `sweep:` section as written, and where its keys are, for errors. */
interface FileSweep {
  raw: unknown;
  at: (path: PathKey[]) => string;
}

async function loadFile(
  file: string,
  tasks: readonly TaskDefinition[],
  overrideTexts: OverrideInput[],
  including: string[],
): Promise<{ loaded: LoadedFile; reach: OverrideReach; sweep?: FileSweep }> {
  const text = readConfigText(file);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const msgs = doc.errors.map((err) => {
      const pos = lc.linePos(err.pos[0]);
      // The parser recurses per level of nesting: thousands of [ or { exhaust the stack.
      if (/call stack/i.test(err.message))
        return `${file}:${pos.line}:${pos.col}: the YAML nests lists or mappings too deeply for the reader; an experiment file needs a few levels, so check the brackets there`;
      return `${file}:${pos.line}:${pos.col}: YAML syntax error: ${err.message.split('\n')[0]}`;
    });
    throw new SpsError(msgs.join('\n'));
  }
  const raw = toData(file, doc);
  if (!isMapping(raw)) {
    throw new SpsError(`${file}: expected a mapping of keys (name, task, objectives, modes, seeds, ...) at the top level`);
  }
  const src: Source = { file, doc, lc, overrideTexts, tasks, included: including.length > 0 };
  // How to launch is not part of any cell (nor of its run id).
  const launcher: unknown = raw.launcher;
  delete raw.launcher;
  const at = (path: PathKey[]): string => {
    const pos = locate(doc, lc, path);
    return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}`;
  };
  // A sweep is not part of any cell: it makes several. Only the file given to `sps run` may sweep,
  // so that an included file's cells are those it has when run on its own.
  const sweep: FileSweep | undefined = 'sweep' in raw ? { raw: raw.sweep, at } : undefined;
  delete raw.sweep;
  if (sweep && including.length > 0)
    throw new SpsError(`${at(['sweep'])}: sweep: an included file cannot sweep (its blocks are those it runs on its own); put the sweep in ${including[0]}`);
  if (!('blocks' in raw)) {
    const { block, reach } = await loadBlock(src, raw, (p) => p, '');
    return { loaded: { file, name: block.experiment.name, blocks: [block], experiment: block.experiment, task: block.task, launcher }, reach, sweep };
  }
  const { blocks, ...common } = raw;
  if (!Array.isArray(blocks) || blocks.length === 0)
    throw new SpsError(`${at(['blocks'])}: blocks: expected a non-empty list of mappings (task, objectives, modes, ...), one per task`);
  const loaded: LoadedBlock[] = [];
  const reach = emptyReach(overrideTexts.length);
  for (let i = 0; i < blocks.length; i++) {
    const b: unknown = blocks[i];
    if (!isMapping(b)) throw new SpsError(`${at(['blocks', i])}: blocks[${i}]: expected a mapping (task, objectives, modes, ...)`);
    if ('include' in b) {
      const inc = await includeBlock(file, tasks, b, ['blocks', i], at, overrideTexts, including);
      loaded.push(...inc.blocks);
      mergeReach(reach, inc.reach);
      continue;
    }
    if ('name' in b || 'blocks' in b) throw new SpsError(`${at(['blocks', i])}: blocks[${i}]: 'name' and 'blocks' belong at the top level only`);
    const tree = deepMerge(common, b);
    const label = `blocks[${i}]${typeof tree.task === 'string' ? ` (${tree.task})` : ''}`;
    const r = await loadBlock(src, tree, (p) => (has(b, p) ? ['blocks', i, ...p] : p), label);
    loaded.push(r.block);
    mergeReach(reach, r.reach);
  }
  // A block of the file's own has had `name` validated with it; otherwise check it here.
  const own = loaded.find((b) => b.included === undefined);
  let name = own?.experiment.name;
  if (name === undefined) {
    // Every block is an include: the file's other top-level keys would apply to nothing.
    const stray = Object.keys(common).filter((k) => k !== 'name');
    if (stray.length > 0)
      throw new SpsError(
        `${at([stray[0]])}: ${stray.join(', ')}: every block is an include, so these keys would apply to no block; set them in the included files`,
      );
    const parsed = experimentSchema.shape.name.safeParse(common.name);
    if (!parsed.success)
      throw new SpsError(
        `${at(common.name === undefined ? [] : ['name'])}: name: ${common.name === undefined ? 'missing (the experiment needs a name)' : parsed.error.issues[0].message}`,
      );
    name = parsed.data;
  }
  return { loaded: { file, name, blocks: loaded, experiment: loaded[0].experiment, task: loaded[0].task, launcher }, reach, sweep };
}

/**
 * A block `- include: other.yaml` stands for the blocks of that file (its path relative to the
 * including file), loaded as they are: the including file's top-level keys are not laid over them,
 * so their run ids, and so their finished runs, are those of the file run on its own. Command-line
 * overrides still apply to them.
 */
async function includeBlock(
  file: string,
  tasks: readonly TaskDefinition[],
  b: Record<string, unknown>,
  path: PathKey[],
  at: (path: PathKey[]) => string,
  overrideTexts: OverrideInput[],
  including: string[],
): Promise<{ blocks: LoadedBlock[]; reach: OverrideReach }> {
  const label = `blocks[${path[1]}]`;
  const others = Object.keys(b).filter((k) => k !== 'include');
  if (others.length > 0)
    throw new SpsError(
      `${at([...path, others[0]])}: ${label}: an include block holds only 'include' (found: ${others.join(', ')}); change the included file instead`,
    );
  if (typeof b.include !== 'string' || b.include === '')
    throw new SpsError(`${at([...path, 'include'])}: ${label}.include: expected the path of an experiment file, relative to ${file}`);
  const target = resolve(dirname(file), b.include);
  const chain = [...including, resolve(file)];
  if (chain.includes(target))
    throw new SpsError(`${at([...path, 'include'])}: ${label}.include: ${b.include} includes itself (${[...chain, target].join(' → ')})`);
  const { loaded: inc, reach } = await loadFile(target, tasks, overrideTexts, chain);
  const single = inc.blocks.length === 1;
  return { blocks: inc.blocks.map((x) => ({ ...x, included: x.included ?? (single ? [inc.name] : [inc.name, x.experiment.task]) })), reach };
}
