import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { SpsError } from '../util/errors.js';
import { allTasks, findTask, type TaskDefinition } from '../train/task.js';
import { experimentSchema, type Experiment } from './schema.js';
import { applyOverride, parseOverride, schemaAt, type Override } from './overrides.js';

export interface LoadedBlock {
  experiment: Experiment;
  task: TaskDefinition;
  /**
   * For a block taken from another file (`- include: ocr.yaml`): where that file puts the block
   * when run on its own, as path segments under the results root (['ocr'], or for a block of a
   * multi-block file ['smoke', 'ocr']).
   */
  included?: string[];
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

/** One line per problem: `file:line:col: key.path: message`, or the override that set the key. */
function describeIssues(
  file: string,
  doc: Document,
  lc: LineCounter,
  overrides: Override[],
  allowedKeys: (path: PathKey[]) => string[],
  issues: z.core.$ZodIssue[],
  prefix: PathKey[] = [],
  inFile: (path: PathKey[]) => PathKey[] = (p) => p,
): string {
  const lines = issues.map((iss) => {
    const path = [...prefix, ...(iss.path as PathKey[])];
    const unknown = iss.code === 'unrecognized_keys' ? iss.keys : undefined;
    const keyPaths = unknown ? unknown.map((k) => formatPath([...path, k])) : [formatPath(path)];
    const message = unknown ? `unknown key${unknown.length > 1 ? 's' : ''} (allowed here: ${allowedKeys(path).join(', ') || 'none'})` : iss.message;
    const fromOverride = overrides.find((o) => {
      const target = unknown ? [...path, unknown[0]] : path;
      return o.path.length <= target.length ? o.path.every((p, i) => String(target[i]) === p) : target.every((p, i) => String(p) === o.path[i]);
    });
    if (fromOverride) return `command-line override '${fromOverride.text}': ${keyPaths.join(', ')}: ${message}`;
    // Where the key is written: in a `blocks` entry or at the top level.
    const target = unknown ? [...path, unknown[0]] : path;
    const blockPrefix = inFile(target).slice(0, -target.length || undefined);
    const pos = locate(doc, lc, [...blockPrefix, ...path], unknown?.[0]);
    const shown = blockPrefix.length > 0 ? `${formatPath(blockPrefix)}: ` : '';
    return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${shown}${keyPaths.join(', ')}: ${message}`;
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
  overrideTexts: string[];
}

/**
 * Validate one block's tree (for a single-block file, the whole file): the task's own schemas type
 * `data` and `model`. `inFile` maps a key path of the tree to where it is written in the file.
 */
async function loadBlock(src: Source, tree: Record<string, unknown>, inFile: (path: PathKey[]) => PathKey[]): Promise<{ block: LoadedBlock; overrides: Override[] }> {
  const { file, doc, lc, overrideTexts } = src;
  // The task decides how data.* and model.* are typed, so look it up before parsing overrides.
  const taskOverride = overrideTexts.find((t) => t.trim().startsWith('task='));
  const taskName = taskOverride ? taskOverride.slice(taskOverride.indexOf('=') + 1).trim() : tree.task;
  const task = typeof taskName === 'string' ? await findTask(taskName) : undefined;
  const schemaFor = (path: string[]): z.ZodType | undefined => {
    if (path[0] === 'data' && task) return schemaAt(task.dataSchema, path.slice(1));
    if (path[0] === 'model' && task) return schemaAt(task.modelSchema, path.slice(1));
    return schemaAt(experimentSchema, path);
  };
  const allowedKeys = (path: PathKey[]): string[] => keysOf(schemaFor(path.map(String)));

  const overrides = overrideTexts.map((t) => parseOverride(t, schemaFor));
  for (const o of overrides) applyOverride(tree, o);

  const describe = (issues: z.core.$ZodIssue[], prefix: PathKey[] = []) => describeIssues(file, doc, lc, overrides, allowedKeys, issues, prefix, inFile);
  const where = (path: PathKey[]): string => {
    const pos = locate(doc, lc, inFile(path));
    return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}`;
  };
  const parsed = experimentSchema.safeParse(tree);
  if (!parsed.success) throw new SpsError(describe(parsed.error.issues));
  const experiment = parsed.data;

  if (!task) {
    const known = (await allTasks()).map((t) => t.name);
    throw new SpsError(`${taskOverride ? `command-line override '${taskOverride}'` : where(['task'])}: task: unknown task '${experiment.task}' (known tasks: ${known.length ? known.join(', ') : 'none registered'})`);
  }
  const data = task.dataSchema.safeParse(experiment.data);
  if (!data.success) throw new SpsError(describe(data.error.issues, ['data']));
  const model = task.modelSchema.safeParse(experiment.model);
  if (!model.success) throw new SpsError(describe(model.error.issues, ['model']));
  experiment.data = data.data;
  experiment.model = model.data;

  for (const problem of task.checkConfig?.(experiment) ?? []) {
    const fromOverride = overrides.find((o) => o.path.join('.') === problem.path.join('.'));
    throw new SpsError(`${fromOverride ? `command-line override '${fromOverride.text}'` : where(problem.path)}: ${problem.path.join('.')}: ${problem.message}`);
  }
  const unsupported = experiment.objectives.filter((o) => !task.objectives.includes(o));
  if (unsupported.length > 0) {
    throw new SpsError(`${where(['objectives'])}: objectives: task '${task.name}' does not support ${unsupported.join(', ')} (it supports: ${task.objectives.join(', ')})`);
  }
  return { block: { experiment, task }, overrides };
}

/**
 * Read an experiment file, apply `key.path=value` overrides, validate the whole (the task's own
 * schemas for `data` and `model`) and fill defaults. Every error names the file (or the override),
 * the key path, and for file errors the line and column.
 *
 * A file may hold several tasks as a list `blocks:`; each entry is laid over the file's other
 * top-level keys (mappings merge, lists are replaced), and command-line overrides apply to every
 * block.
 */
export async function loadExperiment(file: string, overrideTexts: string[] = []): Promise<LoadedExperiment> {
  return loadFile(file, overrideTexts, []);
}

async function loadFile(file: string, overrideTexts: string[], including: string[]): Promise<LoadedExperiment> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SpsError(`${file}: cannot read the experiment file (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const msgs = doc.errors.map((err) => {
      const pos = lc.linePos(err.pos[0]);
      return `${file}:${pos.line}:${pos.col}: YAML syntax error: ${err.message.split('\n')[0]}`;
    });
    throw new SpsError(msgs.join('\n'));
  }
  const raw = doc.toJS() as unknown;
  if (!isMapping(raw)) {
    throw new SpsError(`${file}: expected a mapping of keys (name, task, objectives, modes, seeds, ...) at the top level`);
  }
  const src: Source = { file, doc, lc, overrideTexts };
  // How to launch is not part of any cell (nor of its run id).
  const launcher: unknown = raw.launcher;
  delete raw.launcher;
  if (!('blocks' in raw)) {
    const { block, overrides } = await loadBlock(src, raw, (p) => p);
    return { file, name: block.experiment.name, blocks: [block], experiment: block.experiment, task: block.task, overrides, launcher };
  }
  const { blocks, ...common } = raw;
  const at = (path: PathKey[]): string => {
    const pos = locate(doc, lc, path);
    return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}`;
  };
  if (!Array.isArray(blocks) || blocks.length === 0) throw new SpsError(`${at(['blocks'])}: blocks: expected a non-empty list of mappings (task, objectives, modes, ...), one per task`);
  const loaded: LoadedBlock[] = [];
  let overrides: Override[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const b: unknown = blocks[i];
    if (!isMapping(b)) throw new SpsError(`${at(['blocks', i])}: blocks[${i}]: expected a mapping (task, objectives, modes, ...)`);
    if ('include' in b) {
      loaded.push(...(await includeBlock(file, b, ['blocks', i], at, overrideTexts, including)));
      continue;
    }
    if ('name' in b || 'blocks' in b) throw new SpsError(`${at(['blocks', i])}: blocks[${i}]: 'name' and 'blocks' belong at the top level only`);
    const r = await loadBlock(src, deepMerge(common, b), (p) => (has(b, p) ? ['blocks', i, ...p] : p));
    loaded.push(r.block);
    overrides = r.overrides;
  }
  // A block of the file's own has had `name` validated with it; otherwise check it here.
  const own = loaded.find((b) => b.included === undefined);
  let name = own?.experiment.name;
  if (name === undefined) {
    // Every block is an include: the file's other top-level keys would apply to nothing.
    const stray = Object.keys(common).filter((k) => k !== 'name');
    if (stray.length > 0) throw new SpsError(`${at([stray[0]])}: ${stray.join(', ')}: every block is an include, so these keys would apply to no block; set them in the included files`);
    const parsed = experimentSchema.shape.name.safeParse(common.name);
    if (!parsed.success) throw new SpsError(`${at(common.name === undefined ? [] : ['name'])}: name: ${common.name === undefined ? 'missing (the experiment needs a name)' : parsed.error.issues[0].message}`);
    name = parsed.data;
  }
  return { file, name, blocks: loaded, experiment: loaded[0].experiment, task: loaded[0].task, overrides, launcher };
}

/**
 * A block `- include: other.yaml` stands for the blocks of that file (its path relative to the
 * including file), loaded as they are: the including file's top-level keys are not laid over them,
 * so their run ids, and so their finished runs, are those of the file run on its own. Command-line
 * overrides still apply to them.
 */
async function includeBlock(
  file: string,
  b: Record<string, unknown>,
  path: PathKey[],
  at: (path: PathKey[]) => string,
  overrideTexts: string[],
  including: string[],
): Promise<LoadedBlock[]> {
  const label = `blocks[${path[1]}]`;
  const others = Object.keys(b).filter((k) => k !== 'include');
  if (others.length > 0) throw new SpsError(`${at([...path, others[0]])}: ${label}: an include block holds only 'include' (found: ${others.join(', ')}); change the included file instead`);
  if (typeof b.include !== 'string' || b.include === '') throw new SpsError(`${at([...path, 'include'])}: ${label}.include: expected the path of an experiment file, relative to ${file}`);
  const target = resolve(dirname(file), b.include);
  const chain = [...including, resolve(file)];
  if (chain.includes(target)) throw new SpsError(`${at([...path, 'include'])}: ${label}.include: ${b.include} includes itself (${[...chain, target].join(' → ')})`);
  const inc = await loadFile(target, overrideTexts, chain);
  const single = inc.blocks.length === 1;
  return inc.blocks.map((x) => ({ ...x, included: x.included ?? (single ? [inc.name] : [inc.name, x.experiment.task]) }));
}
