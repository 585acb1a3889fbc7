import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadExperiment } from '../src/config/load.js';
import { allTasks } from '../src/train/tasks/index.js';
import { expandSweep, runId } from '../src/config/cells.js';
import { multirunValues } from '../src/config/overrides.js';
import { runFolderName, sweepTag } from '../src/results/store.js';
import { TOY_PLUGIN, configError, tempDir } from './helpers.js';

process.env.SPS_PLUGINS = TOY_PLUGIN;

const dir = tempDir('sps-sweep-');
let files = 0;
function file(text: string): string {
  const p = join(dir, `f${files++}.yaml`);
  writeFileSync(p, text);
  return p;
}

const BASE = `name: sw
task: toy
objectives: [log-likelihood, ssvm]
modes: [joint]
seeds: 2
train:
  epochs: 2
`;

const loadError = (text: string, overrides: string[] = []): Promise<string> => configError(file(text), overrides);

const cellsOf = async (text: string, overrides: string[] = []) => {
  const loaded = await loadExperiment(file(text), await allTasks(), overrides);
  const [b] = loaded.blocks;
  return { loaded, cells: expandSweep(b.variants ?? [{ experiment: b.experiment }]) };
};

describe('multirun values on the command line', () => {
  it('splits at top-level commas; brackets, braces and quotes protect theirs', () => {
    assert.deepEqual(multirunValues('train.lr=0.1,0.01'), ['0.1', '0.01']);
    assert.equal(multirunValues('seeds=[0,1]'), undefined);
    assert.equal(multirunValues('scaling.alpha_grid=[0.5,1]'), undefined);
    assert.deepEqual(multirunValues('scaling.alpha_grid=[0.5,1],[0.1, 1, 10]'), ['[0.5,1]', '[0.1, 1, 10]']);
    assert.equal(multirunValues('data.x={a: 1, b: 2}'), undefined);
    assert.equal(multirunValues("name='a,b'"), undefined);
    assert.equal(multirunValues('train.lr=0.1'), undefined);
  });
});

describe('sweep grid', () => {
  it('one key: objectives × modes × seeds × values, the value varying fastest, each cell with its typed value', async () => {
    const { loaded, cells } = await cellsOf(BASE, ['train.lr=0.1,0.01']);
    assert.deepEqual(loaded.sweepKeys, ['train.lr']);
    assert.equal(cells.length, 2 * 1 * 2 * 2);
    assert.deepEqual(
      cells.map((c) => [c.config.objective, c.config.seed, c.swept?.['train.lr']]),
      [
        ['log-likelihood', 0, 0.1],
        ['log-likelihood', 0, 0.01],
        ['log-likelihood', 1, 0.1],
        ['log-likelihood', 1, 0.01],
        ['ssvm', 0, 0.1],
        ['ssvm', 0, 0.01],
        ['ssvm', 1, 0.1],
        ['ssvm', 1, 0.01],
      ],
    );
    assert.deepEqual(
      cells.map((c) => c.config.train.lr),
      [0.1, 0.01, 0.1, 0.01, 0.1, 0.01, 0.1, 0.01],
    );
    assert.equal(new Set(cells.map((c) => c.id)).size, cells.length, 'a swept key is in the run id');
    for (const c of cells) assert.equal(c.id, runId(c.config));
  });

  it('several keys give their product, the first key varying slowest; a flow list stays one value', async () => {
    const { cells } = await cellsOf(BASE, ['objectives=[ssvm]', 'seeds=[0,1]', 'train.lr=0.1,0.01', 'data.length=3,4,5']);
    assert.equal(cells.length, 2 * 2 * 3);
    assert.deepEqual(
      cells.slice(0, 6).map((c) => [c.config.seed, c.config.train.lr, c.config.data.length]),
      [
        [0, 0.1, 3],
        [0, 0.1, 4],
        [0, 0.1, 5],
        [0, 0.01, 3],
        [0, 0.01, 4],
        [0, 0.01, 5],
      ],
    );
  });

  it('a sweep: mapping in the file does the same as the command line', async () => {
    const a = await cellsOf(`${BASE}sweep:\n  train.lr: [0.1, 0.01]\n  scaling.alpha: [1, 2]\n`);
    const b = await cellsOf(BASE, ['train.lr=0.1,0.01', 'scaling.alpha=1,2']);
    assert.deepEqual(a.loaded.sweepKeys, ['train.lr', 'scaling.alpha']);
    assert.deepEqual(
      a.cells.map((c) => c.id),
      b.cells.map((c) => c.id),
    );
  });

  it('a list-valued key sweeps over lists; a key the mode does not read gives one cell without a tag', async () => {
    const { cells } = await cellsOf(BASE.replace('modes: [joint]', 'modes: [joint, online]'), [
      'objectives=[ssvm]',
      'seeds=[0]',
      'scaling.alpha_grid=[0.5,1],[1,2]',
    ]);
    const online = cells.filter((c) => c.config.mode === 'online');
    assert.deepEqual(
      online.map((c) => c.swept),
      [{ 'scaling.alpha_grid': [0.5, 1] }, { 'scaling.alpha_grid': [1, 2] }],
    );
    const joint = cells.filter((c) => c.config.mode === 'joint');
    assert.equal(new Set(joint.map((c) => c.id)).size, 1, 'joint does not read the α grid');
    assert.deepEqual(
      joint.map((c) => c.swept),
      [undefined, undefined],
    );
  });

  it('in a file of blocks, a swept key reaches the blocks that have it', async () => {
    const text = `name: two\nobjectives: [ssvm]\nmodes: [joint]\nseeds: 1\nblocks:\n  - task: toy\n  - task: toy\n    data: {length: 3}\n`;
    const loaded = await loadExperiment(file(text), await allTasks(), ['data.noise=0.1,0.2']);
    for (const b of loaded.blocks)
      assert.deepEqual(
        b.variants!.map((v) => v.swept),
        [{ 'data.noise': 0.1 }, { 'data.noise': 0.2 }],
      );
  });

  it('without a sweep, nothing changes: no variants, the same cells', async () => {
    const { loaded, cells } = await cellsOf(BASE);
    assert.equal(loaded.blocks[0].variants, undefined);
    assert.deepEqual(loaded.sweepKeys, []);
    assert.ok(cells.every((c) => c.swept === undefined));
  });
});

describe('sweep errors', () => {
  it('a key that does not exist', async () => {
    assert.match(
      await loadError(BASE, ['train.lrx=0.1,0.2']),
      /^command-line override 'train\.lrx=0\.1,0\.2' \(value '0\.1'\): train\.lrx: unknown key \(allowed here: .*lr/,
    );
    assert.match(await loadError(`${BASE}sweep:\n  train.lrx: [0.1]\n`), /^FILE:9:15: sweep\.train\.lrx\[0\]: train\.lrx: unknown key/);
  });
  it('a value of the wrong type names that value', async () => {
    assert.match(await loadError(BASE, ['train.lr=0.1,abc']), /^command-line override 'train\.lr=0\.1,abc' \(value 'abc'\): train\.lr: .*expected number/);
    assert.match(await loadError(`${BASE}sweep:\n  train.lr: [0.1, fast]\n`), /^FILE:9:19: sweep\.train\.lr\[1\]: train\.lr: .*expected number/);
  });
  it('an empty list or an empty value', async () => {
    assert.match(await loadError(`${BASE}sweep:\n  train.lr: []\n`), /^FILE:9:13: sweep\.train\.lr: the list is empty/);
    assert.match(await loadError(BASE, ['train.lr=0.1,']), /^command-line override 'train\.lr=0\.1,': value 2 of 2 is empty/);
    assert.match(await loadError(`${BASE}sweep:\n  train.lr: 0.1\n`), /^FILE:9:13: sweep\.train\.lr: expected a list of values/);
    assert.match(await loadError(`${BASE}sweep: [train.lr]\n`), /^FILE:8:8: sweep: expected a mapping/);
  });
  it('grid axes, repeats, and a key both swept and set', async () => {
    assert.match(await loadError(BASE, ['seeds=0,1']), /seeds cannot be swept: .*seeds=\[0,1\]/);
    assert.match(await loadError(BASE, ['train.lr=0.1,0.1']), /the value 0\.1 is listed twice/);
    assert.match(await loadError(BASE, ['train.lr=0.3,0.4', 'train.lr=0.5']), /train\.lr is swept and also set by command-line override 'train\.lr=0\.5'/);
    assert.match(await loadError(BASE, ['train.lr=0.3,0.4', 'train.lr=0.5,0.6']), /train\.lr is swept twice/);
  });
  it('the command line wins over the file: an override of a key the file sweeps replaces that sweep, and says so', async () => {
    const text = `${BASE}sweep:\n  train.lr: [0.1, 0.2]\n  train.batch_size: [4, 8]\n`;
    const fixed = await cellsOf(text, ['train.lr=0.3']);
    assert.deepEqual(fixed.loaded.sweepKeys, ['train.batch_size']);
    assert.deepEqual([...new Set(fixed.cells.map((c) => c.config.train.lr))], [0.3]);
    assert.equal(fixed.cells.length, 2 * 2 * 2, 'objectives × seeds × the batch sizes left');
    assert.equal(fixed.loaded.notes.length, 1);
    assert.match(fixed.loaded.notes[0], /^command-line override 'train\.lr=0\.3' replaces the file's sweep of train\.lr \(2 values, .*f\d+\.yaml:9:13\)$/);
    const swept = await cellsOf(text, ['train.lr=0.3,0.4']);
    assert.deepEqual(swept.loaded.sweepKeys, ['train.lr', 'train.batch_size']);
    assert.deepEqual([...new Set(swept.cells.map((c) => c.config.train.lr))].sort(), [0.3, 0.4]);
    assert.match(swept.loaded.notes[0], /command-line override 'train\.lr=0\.3,0\.4' replaces the file's sweep of train\.lr/);
    assert.deepEqual((await cellsOf(text)).loaded.notes, [], 'no override, no note');
  });
});

describe('sweep tags', () => {
  it('short, file-system safe, the run id last', () => {
    const cell = { task: 'ocr', objective: 'ssvm', mode: 'online', seed: 0, id: 'abcdef012345' };
    assert.equal(runFolderName(cell), 'ocr-ssvm-online-seed0-abcdef012345');
    assert.equal(runFolderName(cell, { 'train.lr': 0.01 }), 'ocr-ssvm-online-seed0-lr=0.01-abcdef012345');
    assert.equal(sweepTag({ 'scaling.alpha_grid': [0.5, 1], 'train.optimizer': 'sgd' }), 'alpha_grid=0.5_1-optimizer=sgd');
    assert.equal(sweepTag({ 'train.lr': 0.1, 'train.stage.lr': 1 }), 'train.lr=0.1-train.stage.lr=1');
    assert.equal(sweepTag({ 'data.path': 'a/b c:*' }), 'path=a_b_c__');
    const long = sweepTag({ 'scaling.alpha_grid': Array.from({ length: 20 }, (_, i) => i + 0.5), 'train.lr': 0.001, 'train.epochs': 10, 'scaling.alpha': 3 });
    assert.ok(long.length <= 48, long);
    assert.match(long, /^[A-Za-z0-9.+_=-]+$/);
  });
});
