/**
 * A key that changes what a cell computes is in its run id (config/cells.ts), or a finished run is
 * reused for a config it did not run. For every key of every section of a tiny real OCR cell (the
 * embedded samples) in every mode: change the key; either the run id changes, or the cell, run
 * again, gives byte-identical final.json and epoch records.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { z } from 'zod';
import { canonicalJson, expandGrid, runId } from '../src/config/cells.js';
import { loadExperiment, type LoadedBlock } from '../src/config/load.js';
import { allTasks } from '../src/train/tasks/index.js';
import { scalingSchema, trainSchema } from '../src/core/schema.js';
import { RUN_FILES } from '../src/results/store.js';
import { executeJob } from '../src/train/execute.js';
import { MODE_NAMES } from '../src/core/modes.js';
import type { CellConfig } from '../src/core/task.js';
import { Rng } from '../src/util/rng.js';
import { tempDir } from './helpers.js';

/** Keys left out of the run id on purpose (config/cells.ts `runId`): results record the back end used. */
const EXEMPT = ['backend'];

const dir = tempDir('sps-run-ids-');
let block: LoadedBlock;

before(async () => {
  const file = join(dir, 'tiny.yaml');
  writeFileSync(
    file,
    [
      'name: tiny',
      'task: ocr',
      'objectives: [log-likelihood]',
      `modes: [${MODE_NAMES.join(', ')}]`,
      'seeds: 1',
      'data: { source: sample, train_words: 12, validation_words: 8, test_words: 8 }',
      'model: { preset: lenet5, eval_batch: 4 }',
      // Two epochs: a relative α grid differs from the absolute one only once α has moved.
      'train: { epochs: 2, batch_size: 6, stage: { unary_epochs: 1, pairwise_epochs: 1, joint_epochs: 1 } }',
      'scaling: { alpha_grid: [0.5, 1, 2], selection: { size: 6 } }',
    ].join('\n') + '\n',
  );
  block = (await loadExperiment(file, await allTasks())).blocks[0];
});

/** Every leaf key path of a cell config (arrays are leaves). */
function leaves(value: unknown, path: string[] = []): string[][] {
  if (value && typeof value === 'object' && !Array.isArray(value)) return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [path];
}

/** The optional keys of the sections that a config leaves absent (their default is stored as no key). */
function absentKeys(config: CellConfig): string[][] {
  const sections = { train: trainSchema, scaling: scalingSchema, model: block.task.modelSchema } as const;
  return Object.entries(sections).flatMap(([name, schema]) =>
    (schema instanceof z.ZodObject ? Object.keys(schema.shape) : [])
      .filter((k) => !(k in (config[name as keyof typeof sections] as object)))
      .map((k) => [name, k]),
  );
}

const get = (o: unknown, path: string[]): unknown => path.reduce((x, k) => (x as Record<string, unknown>)[k], o);
function set(config: CellConfig, path: string[], value: unknown): CellConfig {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string, unknown>;
  node[path.at(-1)!] = value;
  return copy as unknown as CellConfig;
}

/** Every string an enum of the schemas allows: the candidate changes of a string key. */
function enumValues(...schemas: z.ZodType[]): string[] {
  const found = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'enum' && Array.isArray(v)) v.forEach((s) => typeof s === 'string' && found.add(s));
        else walk(v);
      }
    }
  };
  for (const s of schemas) walk(z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }));
  return [...found];
}

/** Valid changed values of the key at `path`, tried in order; the config's own schemas judge validity. */
function changes(config: CellConfig, path: string[]): unknown[] {
  const v = get(config, path);
  if (path[0] === 'mode') return MODE_NAMES.filter((m) => m !== v);
  if (path[0] === 'objective') return block.task.objectives.filter((o) => o !== v);
  let candidates: unknown[];
  if (typeof v === 'boolean') candidates = [!v];
  else if (typeof v === 'number') candidates = Number.isInteger(v) ? [v + 1, v * 2, v - 1] : [v * 2, v / 2, v + 1];
  else if (v === null) candidates = [1, 2, 5];
  else if (v === undefined) candidates = [...enumValues(trainSchema, scalingSchema, block.task.modelSchema), 0.5, 2];
  else if (typeof v === 'string') candidates = [...enumValues(trainSchema, scalingSchema, block.task.dataSchema, block.task.modelSchema), `${v}-changed`];
  else if (Array.isArray(v) && v.every((x) => typeof x === 'number')) candidates = [v.map((x) => x * 2), v.slice(0, -1), [...v, Math.max(0, ...v) + 1]];
  else candidates = [];
  const section = { data: block.task.dataSchema, model: block.task.modelSchema, train: trainSchema, scaling: scalingSchema }[path[0]];
  return candidates.filter((c) => {
    if (canonicalJson(c) === canonicalJson(v)) return false;
    if (!section) return true;
    const changed = set(config, path, c);
    const parsed = section.safeParse(get(changed, [path[0]]));
    return parsed.success && canonicalJson(parsed.data) === canonicalJson(get(changed, [path[0]]));
  });
}

/** Run a cell in this process; its final.json and epoch records (without wall times). */
async function runCell(config: CellConfig, name: string): Promise<{ final: string; epochs: string }> {
  const runDir = join(dir, name);
  const code = await executeJob(
    { id: runId(config), cell: config, runDir, dataDir: join(dir, 'data'), force: false, plannedSeeds: 1, command: 'test' },
    () => {},
  );
  const final = readFileSync(join(runDir, RUN_FILES.final), 'utf8');
  assert.equal(code, 0, `${name} failed`);
  const epochs = readFileSync(join(runDir, RUN_FILES.metrics), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return canonicalJson(rest);
    })
    .join('\n');
  return { final, epochs };
}

describe('run ids cover every key that changes what a cell computes', () => {
  it('every key of every section, in every mode: the run id changes or the results are byte-identical', async () => {
    const cells = expandGrid(block.experiment);
    assert.equal(cells.length, MODE_NAMES.length);
    const problems: string[] = [];
    for (const { config } of cells) {
      // The keys left out of this mode's run id, each with a valid change.
      const outside: { path: string[]; value: unknown }[] = [];
      for (const path of [...leaves(config), ...absentKeys(config)]) {
        const key = path.join('.');
        if (EXEMPT.includes(key)) continue;
        // A raw change shows whether the key is hashed; the value need not be valid for that. (The
        // mode must name a mode: its entry decides which keys are hashed.)
        const raw = key === 'mode' ? changes(config, path)[0] : { changed: get(config, path) };
        if (runId(set(config, path, raw)) !== runId(config)) continue;
        const [value] = changes(config, path);
        if (value === undefined)
          problems.push(`${config.mode}: ${key} is not in the run id and the test knows no valid change of ${JSON.stringify(get(config, path))}`);
        else outside.push({ path, value });
      }
      // The experiment name is never hashed, so every mode reruns at least once.
      assert.ok(
        outside.some((o) => o.path.join('.') === 'experiment'),
        `${config.mode}: the experiment name is in the run id`,
      );
      // All of them changed at once: one run per mode while every key is clean; one per key to name a culprit.
      const baseline = await runCell(config, `${config.mode}-baseline`);
      const differs = async (changed: CellConfig, name: string): Promise<string | undefined> => {
        const other = await runCell(changed, name);
        return other.final !== baseline.final ? 'final.json' : other.epochs !== baseline.epochs ? 'the epoch records' : undefined;
      };
      const all = outside.reduce((c, o) => set(c, o.path, o.value), config);
      if (!(await differs(all, `${config.mode}-all`))) continue;
      for (const { path, value } of outside) {
        const what = await differs(set(config, path, value), `${config.mode}-${path.join('.')}`);
        if (what) problems.push(`${config.mode}: ${path.join('.')}=${JSON.stringify(value)} is not in the run id but changes ${what}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe("ssvm's maximiser is in the run id only where it changes what the cell computes", () => {
  it('without dropout the two maximisers give byte-identical results and one run id; with dropout the ids differ; other objectives never hash it', async () => {
    const file = join(dir, 'maximiser.yaml');
    writeFileSync(
      file,
      [
        'name: maximiser',
        'task: ocr',
        'objectives: [ssvm, log-likelihood]',
        'modes: [joint]',
        'seeds: 1',
        'data: { source: sample, train_words: 12, validation_words: 8, test_words: 8 }',
        'model: { preset: lenet5, eval_batch: 4 }',
        'train: { epochs: 1, batch_size: 6 }',
      ].join('\n') + '\n',
    );
    const [ssvm, ll] = expandGrid((await loadExperiment(file, await allTasks())).blocks[0].experiment).map((c) => c.config);
    assert.equal(ssvm.objective, 'ssvm');
    const free = (c: CellConfig) => set(c, ['train', 'ssvm_maximiser'], 'dropout-free');
    const dropout = (c: CellConfig) => set(c, ['model', 'dropout'], 0.5);
    assert.equal(runId(free(ssvm)), runId(ssvm));
    assert.notEqual(runId(free(dropout(ssvm))), runId(dropout(ssvm)));
    assert.equal(runId(free(dropout(ll))), runId(dropout(ll)));
    const noisy = await runCell(ssvm, 'maximiser-noisy');
    const other = await runCell(free(ssvm), 'maximiser-free');
    assert.equal(other.final, noisy.final);
    assert.equal(other.epochs, noisy.epochs);
  });
});

describe('one random stream per purpose', () => {
  it('a stream depends on the seed and its purpose only, not on what other streams drew', () => {
    const draws = (r: Rng) => Array.from({ length: 5 }, () => r.next());
    const quiet = new Rng(7);
    const busy = new Rng(7);
    draws(busy);
    draws(busy.stream('selection'));
    assert.deepEqual(draws(busy.stream('init')), draws(quiet.stream('init')));
    assert.equal(busy.stream('init'), busy.stream('init'), 'one stream object per purpose: its draws continue');
    assert.notDeepEqual(draws(new Rng(7).stream('init')), draws(new Rng(7).stream('batch-order')));
    assert.notDeepEqual(draws(new Rng(7).stream('init')), draws(new Rng(8).stream('init')));
    assert.notDeepEqual(draws(new Rng(7).stream('init')), draws(new Rng(7)));
  });

  it("the selection subset does not move any task's initialisation or batch order: a joint cell's final.json stays the same", async () => {
    const file = join(dir, 'streams.yaml');
    writeFileSync(
      file,
      [
        'name: streams',
        'seeds: 1',
        'data: { source: sample }',
        'train: { epochs: 1, batch_size: 6 }',
        'scaling: { selection: { size: 4 } }',
        'blocks:',
        '  - { task: ocr, objectives: [log-likelihood], modes: [joint], data: { train_words: 12, validation_words: 8, test_words: 8 }, model: { preset: lenet5, eval_batch: 4 } }',
        '  - { task: chunking, objectives: [cross-entropy], modes: [joint], data: { train_sentences: 12, validation_sentences: 8, test_sentences: 8 }, model: { char_hidden: 4, hidden: [8] } }',
        '  - { task: segmentation, objectives: [cross-entropy], modes: [joint], data: { train_images: 4, test_images: 2, size: 16 }, model: { unary_channels: [4], pairwise_channels: [4], embedding_dim: 2 } }',
      ].join('\n') + '\n',
    );
    for (const { experiment } of (await loadExperiment(file, await allTasks())).blocks) {
      const [{ config }] = expandGrid(experiment);
      const a = await runCell(config, `streams-${config.task}`);
      for (const selection of [
        { subset: 'train', size: 4 },
        { subset: 'validation', size: 3 },
      ] as const) {
        const changed = set(config, ['scaling', 'selection'], selection);
        assert.notEqual(runId(changed), runId(config), 'the norm log reads the selection subset, so it is in the run id');
        const b = await runCell(changed, `streams-${config.task}-${selection.subset}-${selection.size}`);
        assert.equal(b.final, a.final, `${config.task}: scaling.selection=${JSON.stringify(selection)} changed final.json`);
      }
    }
  });
});
