import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { SpsError } from '../util/errors.js';
import { allTasks, findTask, type TaskDefinition } from '../train/task.js';
import { experimentSchema, type Experiment } from './schema.js';
import { applyOverride, parseOverride, schemaAt, type Override } from './overrides.js';

export interface LoadedExperiment {
  file: string;
  experiment: Experiment;
  task: TaskDefinition;
  overrides: Override[];
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
    const pos = locate(doc, lc, path, unknown?.[0]);
    return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${keyPaths.join(', ')}: ${message}`;
  });
  return lines.join('\n');
}

function keysOf(s: z.ZodType | undefined): string[] {
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/**
 * Read an experiment file, apply `key.path=value` overrides, validate the whole (the task's own
 * schemas for `data` and `model`) and fill defaults. Every error names the file (or the override),
 * the key path, and for file errors the line and column.
 */
export async function loadExperiment(file: string, overrideTexts: string[] = []): Promise<LoadedExperiment> {
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
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SpsError(`${file}: expected a mapping of keys (name, task, objectives, modes, seeds, ...) at the top level`);
  }
  const tree = raw as Record<string, unknown>;

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

  const parsed = experimentSchema.safeParse(tree);
  if (!parsed.success) throw new SpsError(describeIssues(file, doc, lc, overrides, allowedKeys, parsed.error.issues));
  const experiment = parsed.data;

  if (!task) {
    const known = (await allTasks()).map((t) => t.name);
    const pos = locate(doc, lc, ['task']);
    const where = taskOverride ? `command-line override '${taskOverride}'` : `${file}${pos ? `:${pos.line}:${pos.col}` : ''}`;
    throw new SpsError(`${where}: task: unknown task '${experiment.task}' (known tasks: ${known.length ? known.join(', ') : 'none registered'})`);
  }
  const data = task.dataSchema.safeParse(experiment.data);
  if (!data.success) throw new SpsError(describeIssues(file, doc, lc, overrides, allowedKeys, data.error.issues, ['data']));
  const model = task.modelSchema.safeParse(experiment.model);
  if (!model.success) throw new SpsError(describeIssues(file, doc, lc, overrides, allowedKeys, model.error.issues, ['model']));
  experiment.data = data.data;
  experiment.model = model.data;

  const unsupported = experiment.objectives.filter((o) => !task.objectives.includes(o));
  if (unsupported.length > 0) {
    const pos = locate(doc, lc, ['objectives']);
    throw new SpsError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: objectives: task '${task.name}' does not support ${unsupported.join(', ')} (it supports: ${task.objectives.join(', ')})`);
  }
  return { file, experiment, task, overrides };
}
