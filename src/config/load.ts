import { dirname, resolve } from 'node:path';
import type { TaskDefinition } from '../core/task.js';
import { SpsError } from '../util/errors.js';
import { isMapping } from '../util/tree.js';
import { loadBlock, type BlockSource, type LoadedBlock } from './block.js';
import { experimentSchema } from './experiment.js';
import { emptyReach, mergeReach, unreachedOverride, type OverrideReach } from './override-reach.js';
import { checkRepeatedKeys, inputText, multirunValues, overrideOrigin, type Override, type OverrideInput } from './overrides.js';
import { checkAxis, sweepAxes, type FileSweep } from './sweep-axes.js';
import { readYamlFile, where, type PathKey } from './yaml-file.js';

export type { LoadedBlock, SweepVariant } from './block.js';

export interface LoadedExperiment {
  file: string;
  /** The experiment's name (shared by all blocks). */
  name: string;
  /** One block per task of the file: the file itself, or each entry of its `blocks` list. */
  blocks: LoadedBlock[];
  overrides: Override[];
  /** The swept key paths (dotted), in sweep order; empty without a sweep. */
  sweepKeys: string[];
  /** What the user should know about how the command line changed the file's sweep (one line each). */
  notes: string[];
  /** The file's top-level `launcher:` section, unvalidated (train/launchers/settings.ts checks it). */
  launcher?: unknown;
}

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
  const { axes, notes } = sweepAxes(file, sweep, overrideTexts, overrides);
  if (axes.length === 0) return { ...loaded, overrides, sweepKeys: [], notes };
  /** Each swept value as the schema typed it (`0.01` a number, `[0.5,1]` a list), for the records. */
  const typed = new Map<OverrideInput, unknown>();
  for (const [i, a] of axes.entries()) {
    checkAxis(axes, i, overrides);
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
  return { ...loaded, blocks, overrides, sweepKeys: axes.map((a) => a.key), notes };
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

type LoadedFile = Omit<LoadedExperiment, 'overrides' | 'sweepKeys' | 'notes'>;

async function loadFile(
  file: string,
  tasks: readonly TaskDefinition[],
  overrideTexts: OverrideInput[],
  including: string[],
): Promise<{ loaded: LoadedFile; reach: OverrideReach; sweep?: FileSweep }> {
  const y = readYamlFile(file);
  const { raw } = y;
  const src: BlockSource = { file, doc: y.doc, lc: y.lc, overrideTexts, tasks, included: including.length > 0 };
  // How to launch is not part of any cell (nor of its run id).
  const launcher: unknown = raw.launcher;
  delete raw.launcher;
  const at = (path: PathKey[]): string => where(y, path);
  // A sweep is not part of any cell: it makes several. Only the file given to `sps run` may sweep,
  // so that an included file's cells are those it has when run on its own.
  const sweep: FileSweep | undefined = 'sweep' in raw ? { raw: raw.sweep, at } : undefined;
  delete raw.sweep;
  if (sweep && including.length > 0)
    throw new SpsError(`${at(['sweep'])}: sweep: an included file cannot sweep (its blocks are those it runs on its own); put the sweep in ${including[0]}`);
  if (!('blocks' in raw)) {
    const { block, reach } = await loadBlock(src, raw, (p) => p, '');
    return { loaded: { file, name: block.experiment.name, blocks: [block], launcher }, reach, sweep };
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
  return { loaded: { file, name, blocks: loaded, launcher }, reach, sweep };
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
