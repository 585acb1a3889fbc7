import type { Document, LineCounter } from 'yaml';
import { z } from 'zod';
import type { TaskDefinition } from '../core/task.js';
import { SpsError } from '../util/errors.js';
import { experimentSchema, type Experiment } from './experiment.js';
import { emptyReach, missOf, type OverrideReach } from './override-reach.js';
import { applyOverride, inputText, keysOf, overrideOrigin, parseOverride, schemaAt, type Override, type OverrideInput } from './overrides.js';
import { formatPath, locate, type PathKey } from './yaml-file.js';

/**
 * One block of an experiment file (the whole file when it has no `blocks:`): the overrides laid
 * over it, validated by the experiment schema and its task's own schemas and checks. Every error
 * names the override that set the key, or the file, line and column where the key is written.
 */

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

export interface BlockSource {
  file: string;
  doc: Document;
  lc: LineCounter;
  overrideTexts: OverrideInput[];
  /** The tasks a block may name (built in and plugins; the caller's task registry). */
  tasks: readonly TaskDefinition[];
  /** Whether another file includes this one (an override's error then names this file). */
  included: boolean;
}

/**
 * Validate one block's tree (for a single-block file, the whole file): the task's own schemas type
 * `data` and `model`. `inFile` maps a key path of the tree to where it is written in the file;
 * `label` names the block in errors ('' in a file of one block). An override applies to the block
 * only when the block's schema has its key.
 */
export async function loadBlock(
  src: BlockSource,
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
