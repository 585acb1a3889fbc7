import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadExperiment } from '../src/config/load.js';
import { allTasks } from '../src/train/tasks/index.js';
import { blockOutDirs } from '../src/cli/run.js';
import { expandGrid, runId, canonicalJson } from '../src/config/cells.js';
import { SpsError } from '../src/util/errors.js';
import { ROOT, TOY_PLUGIN, configError, sps, tempDir } from './helpers.js';

process.env.SPS_PLUGINS = TOY_PLUGIN;

const GOOD = `name: t
task: toy
objectives: [log-likelihood, ssvm]
modes: [stage, joint, online]
seeds: 2
train:
  epochs: 3
`;

const dir = tempDir();

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const loadError = (text: string, overrides: string[] = []): Promise<string> =>
  configError(file(`f${Math.random().toString(36).slice(2)}.yaml`, text), overrides);

describe('config loading', () => {
  it('fills defaults and expands the grid in paper order', async () => {
    const [{ experiment }] = (await loadExperiment(file('good.yaml', GOOD), await allTasks())).blocks;
    assert.deepEqual(experiment.seeds, [0, 1]);
    assert.equal(experiment.train.epochs, 3);
    assert.equal(experiment.train.batch_size, 32);
    assert.equal(experiment.train.stage.unary_epochs, 5);
    assert.equal(experiment.scaling.selection.subset, 'validation');
    assert.equal(experiment.data.sequences, 96, 'task schema fills data defaults');
    const cells = expandGrid(experiment);
    assert.equal(cells.length, 2 * 3 * 2);
    assert.deepEqual(
      cells.slice(0, 3).map((c) => [c.config.objective, c.config.mode, c.config.seed]),
      [
        ['log-likelihood', 'stage', 0],
        ['log-likelihood', 'stage', 1],
        ['log-likelihood', 'joint', 0],
      ],
    );
    assert.equal(new Set(cells.map((c) => c.id)).size, cells.length, 'run ids are distinct');
  });

  it('reports YAML syntax errors with line and column', async () => {
    const msg = await loadError('name: t\ntask: toy\nobjectives: [a, b\nmodes: [joint]\n');
    assert.match(msg, /^FILE:\d+:\d+: YAML syntax error/);
    const msg2 = await loadError('name: t\n  task: toy\n');
    assert.match(msg2, /^FILE:1:7: YAML syntax error/);
  });

  it('reports unknown keys with their line, column and the allowed keys', async () => {
    const msg = await loadError(GOOD.replace('  epochs: 3', '  epochs: 3\n  epoch: 4'));
    assert.match(msg, /FILE:8:3: train\.epoch: unknown key \(allowed here: epochs, batch_size/);
    const top = await loadError(GOOD + 'colour: blue\n');
    assert.match(top, /FILE:8:1: colour: unknown key/);
    const task = await loadError(GOOD + 'data:\n  sequence: 3\n');
    assert.match(task, /FILE:9:3: data\.sequence: unknown key \(allowed here: sequences, length/);
  });

  it('reports wrong types and impossible values with the key path and line', async () => {
    assert.match(await loadError(GOOD.replace('epochs: 3', 'epochs: three')), /FILE:7:11: train\.epochs: .*number/i);
    assert.match(await loadError(GOOD.replace('epochs: 3', 'epochs: 0')), /FILE:7:11: train\.epochs: .*>=1/);
    assert.match(await loadError(GOOD.replace('seeds: 2', 'seeds: [1, 1]')), /FILE:5:8: seeds: .*must not repeat/);
    assert.match(await loadError(GOOD.replace('ssvm', 'svm')), /FILE:3:30: objectives\[1\]: .*expected one of/i);
    assert.match(
      await loadError(GOOD.replace('task: toy', 'task: nosuch')),
      /FILE:2:7: task: unknown task 'nosuch' \(known tasks: ocr, chunking, segmentation, pos, toy\)/,
    );
    assert.match(await loadError(GOOD.replace('name: t', 'name: "a b"')), /FILE:1:7: name: name must be letters/);
    assert.match(await loadError('- 1\n- 2\n'), /expected a mapping/);
  });

  it('reports a missing file and missing required keys', async () => {
    await assert.rejects(loadExperiment(join(dir, 'nope.yaml'), await allTasks()), /nope\.yaml: cannot read the experiment file \(no such file\)/);
    assert.match(await loadError('name: t\ntask: toy\nmodes: [joint]\nseeds: 1\n'), /objectives: .*expected array/i);
  });
});

describe('multi-block configs', () => {
  const BLOCKS = `name: both
seeds: 1
train:
  epochs: 2
  batch_size: 8
blocks:
  - task: toy
    objectives: [ssvm]
    modes: [joint]
  - task: toy
    objectives: [log-likelihood]
    modes: [stage, joint]
    seeds: [3, 4]
    data:
      sequences: 40
    train:
      epochs: 5
`;

  it('lays each block over the top-level keys (mappings merge, lists replace)', async () => {
    const loaded = await loadExperiment(file('blocks.yaml', BLOCKS), await allTasks());
    assert.equal(loaded.name, 'both');
    assert.equal(loaded.blocks.length, 2);
    const [a, b] = loaded.blocks.map((x) => x.experiment);
    assert.deepEqual([a.seeds, a.train.epochs, a.train.batch_size, a.data.sequences], [[0], 2, 8, 96]);
    assert.deepEqual([b.seeds, b.train.epochs, b.train.batch_size, b.data.sequences, b.modes], [[3, 4], 5, 8, 40, ['stage', 'joint']]);
    assert.equal(a.name, 'both');
  });

  it('applies command-line overrides to every block', async () => {
    const loaded = await loadExperiment(file('blocks2.yaml', BLOCKS), await allTasks(), ['train.epochs=7']);
    assert.deepEqual(
      loaded.blocks.map((x) => x.experiment.train.epochs),
      [7, 7],
    );
  });

  it('names the block, line and key of an error', async () => {
    const msg = await loadError(BLOCKS.replace('      sequences: 40', '      sequences: 2'));
    assert.match(msg, /^FILE:15:18: blocks\[1\] \(toy\): data\.sequences: /);
    const unknown = await loadError(BLOCKS.replace('    train:\n      epochs: 5', '    train:\n      epochz: 5'));
    assert.match(unknown, /^FILE:\d+:\d+: blocks\[1\] \(toy\): train\.epochz: unknown key/);
    const top = await loadError(BLOCKS.replace('  batch_size: 8', '  batch_size: 0'));
    assert.match(top, /^FILE:5:15: blocks\[0\] \(toy\): train\.batch_size: /, 'a top-level key is reported where it is written, with the block it failed in');
    assert.match(await loadError('name: x\nblocks: []\n'), /^FILE:2:9: blocks: expected a non-empty list/);
    assert.match(await loadError('name: x\nblocks:\n  - 3\n'), /^FILE:3:5: blocks\[0\]: expected a mapping/);
    assert.match(await loadError('name: x\nblocks:\n  - name: y\n    task: toy\n'), /blocks\[0\]: 'name' and 'blocks' belong at the top level only/);
  });
});

describe('include blocks', () => {
  it('take the included file as it is, with its run ids, and apply command-line overrides to it', async () => {
    const inner = file('inner.yaml', GOOD);
    const outer = file(
      'outer.yaml',
      `name: outer\nblocks:\n  - include: inner.yaml\n  - task: toy\n    objectives: [ssvm]\n    modes: [joint]\n    seeds: 1\n`,
    );
    const loaded = await loadExperiment(outer, await allTasks());
    const alone = await loadExperiment(inner, await allTasks());
    assert.equal(loaded.name, 'outer');
    assert.deepEqual(
      loaded.blocks.map((b) => b.included),
      [['t'], undefined],
    );
    assert.deepEqual(blockOutDirs(undefined, loaded), [resolve('results/t'), resolve('results/outer/toy')]);
    assert.deepEqual(blockOutDirs('/r', loaded), ['/r/t', '/r/toy']);
    // Included again, a multi-block file's blocks keep the folders that file gives them.
    const nested = await loadExperiment(file('nested.yaml', 'name: nested\nblocks:\n  - include: outer.yaml\n'), await allTasks());
    assert.deepEqual(blockOutDirs(undefined, nested), [resolve('results/t'), resolve('results/outer/toy')]);
    assert.deepEqual(blockOutDirs(undefined, alone), [resolve('results/t')]);
    assert.deepEqual(blockOutDirs('/r', alone), ['/r']);
    assert.deepEqual(
      expandGrid(loaded.blocks[0].experiment).map((c) => c.id),
      expandGrid(alone.blocks[0].experiment).map((c) => c.id),
    );
    const over = await loadExperiment(outer, await allTasks(), ['train.epochs=9']);
    assert.deepEqual(
      over.blocks.map((b) => b.experiment.train.epochs),
      [9, 9],
    );
  });

  it('name the include of an error, a missing file and a cycle', async () => {
    file('bad-inner.yaml', GOOD.replace('  epochs: 3', '  epochs: -1'));
    const bad = await loadError('name: x\nblocks:\n  - include: bad-inner.yaml\n');
    assert.match(bad, /bad-inner\.yaml:\d+:\d+: train\.epochs: /, 'the error points into the included file');
    assert.match(await loadError('name: x\nblocks:\n  - include: nowhere.yaml\n'), /nowhere\.yaml: cannot read the experiment file \(no such file\)/);
    assert.match(
      await loadError('name: x\nblocks:\n  - include: inner.yaml\n    seeds: 3\n'),
      /^FILE:4:12: blocks\[0\]: an include block holds only 'include' \(found: seeds\)/,
    );
    assert.match(await loadError('name: x\nblocks:\n  - include: 3\n'), /^FILE:3:14: blocks\[0\]\.include: expected the path/);
    assert.match(await loadError('name: x\nseeds: 2\nblocks:\n  - include: inner.yaml\n'), /^FILE:2:8: seeds: every block is an include/);
    assert.match(await loadError('blocks:\n  - include: inner.yaml\n'), /name: missing/);
    file('loop-a.yaml', 'name: a\nblocks:\n  - include: loop-b.yaml\n');
    file('loop-b.yaml', 'name: b\nblocks:\n  - include: loop-a.yaml\n');
    assert.match(await loadError('name: x\nblocks:\n  - include: loop-a.yaml\n'), /loop-b\.yaml:3:14: blocks\[0\]\.include: loop-a\.yaml includes itself/);
  });

  it('configs/paper.yaml is the three task configs, with their run ids', async () => {
    const paper = await loadExperiment(join(ROOT, 'configs/paper.yaml'), await allTasks());
    assert.deepEqual(
      paper.blocks.map((b) => b.included),
      [['ocr'], ['chunking'], ['segmentation']],
    );
    assert.deepEqual(
      blockOutDirs(undefined, paper),
      ['ocr', 'chunking', 'segmentation'].map((t) => resolve('results', t)),
    );
    const ids = (blocks: { experiment: Parameters<typeof expandGrid>[0] }[]) => blocks.flatMap((b) => expandGrid(b.experiment).map((c) => c.id));
    const alone = [];
    for (const f of ['ocr', 'chunking', 'segmentation']) alone.push(...(await loadExperiment(join(ROOT, `configs/${f}.yaml`), await allTasks())).blocks);
    assert.deepEqual(ids(paper.blocks), ids(alone));
  });
});

describe('overrides', () => {
  it('are typed by the schema', async () => {
    const p = file('o.yaml', GOOD);
    const [{ experiment }] = (
      await loadExperiment(p, await allTasks(), [
        'train.epochs=7',
        'seeds=[3,4,5]',
        'train.lr=1e-2',
        'name=2024',
        'scaling.alpha_grid=[0.5, 1]',
        'data.length=9',
        'train.grad_clip=null',
      ])
    ).blocks;
    assert.equal(experiment.train.epochs, 7);
    assert.deepEqual(experiment.seeds, [3, 4, 5]);
    assert.equal(experiment.train.lr, 0.01);
    assert.equal(experiment.name, '2024');
    assert.deepEqual(experiment.scaling.alpha_grid, [0.5, 1]);
    assert.equal(experiment.data.length, 9);
    assert.equal(experiment.train.grad_clip, null);
  });

  it('name the override in errors', async () => {
    assert.match(await loadError(GOOD, ['train.epoch=3']), /command-line override 'train\.epoch=3': train\.epoch: unknown key/);
    assert.match(await loadError(GOOD, ['train.epochs=-1']), /command-line override 'train\.epochs=-1': train\.epochs: .*>=1/);
    assert.match(await loadError(GOOD, ['train.epochs']), /override 'train\.epochs': expected key\.path=value/);
    assert.match(await loadError(GOOD, ['seeds=[0,']), /override 'seeds=\[0,': the value is not valid YAML/);
    assert.match(await loadError(GOOD, ['train.epochs.x=1']), /'train\.epochs' is not a section/);
  });
});

describe('run ids', () => {
  it('are stable, ignore key order, name and back end, and change with any determining value', async () => {
    const a = expandGrid((await loadExperiment(file('a.yaml', GOOD), await allTasks())).blocks[0].experiment);
    const reordered =
      'seeds: 2\nmodes: [stage, joint, online]\ntrain:\n  epochs: 3\nobjectives: [log-likelihood, ssvm]\ntask: toy\nname: other\nbackend: cpu\n';
    const b = expandGrid((await loadExperiment(file('b.yaml', reordered), await allTasks())).blocks[0].experiment);
    assert.deepEqual(
      a.map((c) => c.id),
      b.map((c) => c.id),
    );
    const c = expandGrid((await loadExperiment(file('c.yaml', GOOD), await allTasks(), ['train.lr=0.002'])).blocks[0].experiment);
    // train.lr drives joint and online; stage has its own learning rates.
    assert.ok(a.every((cell, i) => (cell.id !== c[i].id) === (cell.config.mode !== 'stage')));
    const d = expandGrid((await loadExperiment(file('d.yaml', GOOD), await allTasks(), ['train.stage.joint_lr=0.002'])).blocks[0].experiment);
    assert.ok(a.every((cell, i) => (cell.id !== d[i].id) === (cell.config.mode === 'stage')));
    // Pinned: a change to how ids are computed must be deliberate (bump CELL_SCHEMA).
    assert.match(a[0].id, /^[0-9a-f]{12}$/);
    assert.equal(runId(a[0].config), a[0].id);
    assert.equal(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } }), '{"a":{"c":[3,{"e":2,"f":1}],"d":2},"b":1}');
  });
});

describe('run ids and the keys a mode reads', () => {
  it('a scaling key changes only the ids of the modes that read it', async () => {
    const all = GOOD.replace('modes: [stage, joint, online]', 'modes: [stage, joint, online, offline, offline-reg]');
    const base = expandGrid((await loadExperiment(file('m0.yaml', all), await allTasks())).blocks[0].experiment);
    const changed = async (override: string) => {
      const other = expandGrid((await loadExperiment(file('m1.yaml', all), await allTasks(), [override])).blocks[0].experiment);
      return [...new Set(base.filter((cell, i) => cell.id !== other[i].id).map((cell) => cell.config.mode))].sort();
    };
    assert.deepEqual(await changed('scaling.alpha=40'), ['offline', 'offline-reg']);
    assert.deepEqual(await changed('scaling.lambda=0.5'), ['offline-reg']);
    assert.deepEqual(await changed('scaling.alpha_grid=[1,2]'), ['online']);
    assert.deepEqual(await changed('scaling.norm=frobenius'), ['offline', 'offline-reg']);
    assert.deepEqual(await changed('scaling.norm_over=batch'), ['offline', 'offline-reg']);
    // Every mode logs the norms on the selection subset; online also picks α on it.
    assert.deepEqual(await changed('scaling.selection.size=7'), ['joint', 'offline', 'offline-reg', 'online', 'stage']);
    assert.deepEqual(await changed('train.epochs=5'), ['joint', 'offline', 'offline-reg', 'online']);
    assert.deepEqual(await changed('train.batch_size=8'), ['joint', 'offline', 'offline-reg', 'online', 'stage']);
    assert.deepEqual(await changed('data.length=3'), ['joint', 'offline', 'offline-reg', 'online', 'stage']);
  });
});

describe('sps run with a bad config', () => {
  it('exits non-zero and names file, line and key', () => {
    const p = file('bad.yaml', GOOD.replace('epochs: 3', 'epochs: 0'));
    const r = sps(['run', p, '--dry-run']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:7:11: train\.epochs/);
  });
});

describe('seeds', () => {
  it('say what is allowed for each kind of wrong value', async () => {
    const msg = (v: string) => loadError(GOOD, [`seeds=${v}`]);
    assert.match(await msg('0'), /seeds: 0 is not a count of seeds: give a whole number from 1 to 1000 \(seeds 0\.\.n-1\) or a list such as \[0, 1, 2\]/);
    assert.match(await msg('-3'), /seeds: -3 is not a count of seeds: give a whole number from 1 to 1000/);
    assert.match(await msg('"3"'), /seeds: got the string "3": write the number without quotes \(seeds: 3\) or a list such as \[0, 1, 2\]/);
    assert.match(await msg('[1.5]'), /seeds\[0\]: 1\.5 is not a seed: seeds are whole numbers from 0 to 2147483647/);
    assert.match(await msg('100000'), /seeds: 100000 is more than 1000 seeds/);
    assert.match(await msg('[]'), /seeds: the list is empty/);
    assert.match(await msg('[2, 5, 2]'), /seeds: 2 is listed twice/);
    assert.match(await msg('true'), /seeds: expected a count from 1 to 1000 or a list of seeds such as \[0, 1, 2\], got true/);
    assert.match(await loadError(GOOD.replace('seeds: 2', 'seeds: 0')), /^FILE:5:8: seeds: 0 is not a count of seeds/);
    assert.match(await loadError(GOOD.replace('seeds: 2\n', '')), /seeds: missing: give a count from 1 to 1000 or a list of seeds/);
  });

  it('accept a count up to 1000 and a list of up to 1000 seeds', async () => {
    const [{ experiment }] = (await loadExperiment(file('s.yaml', GOOD), await allTasks(), ['seeds=1000'])).blocks;
    assert.equal(experiment.seeds.length, 1000);
    assert.deepEqual((await loadExperiment(file('s.yaml', GOOD), await allTasks(), ['seeds=[0, 2147483647]'])).blocks[0].experiment.seeds, [0, 2147483647]);
    const many = `[${Array.from({ length: 1001 }, (_, i) => i).join(',')}]`;
    assert.match(await loadError(GOOD, [`seeds=${many}`]), /seeds: 1001 seeds listed; at most 1000/);
  });
});

describe('experiment files that would exhaust the loader', () => {
  it('refuse a file over the size limit before parsing it, naming the file', async () => {
    const big = GOOD + `# ${'x'.repeat(1024)}\n`.repeat(1024);
    assert.match(await loadError(big), /^FILE: 1\.0 MiB is over the 1 MiB limit for an experiment file/);
  });

  it('refuse a YAML alias bomb, naming the file', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      levels.push(
        `${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10)
          .fill(`*${'abcdefgh'[i - 1]}`)
          .join(', ')}]`,
      );
    const msg = await loadError(`${GOOD}data:\n  sequences: 8\nbomb:\n${levels.map((l) => `  ${l}`).join('\n')}\n`);
    assert.match(msg, /^FILE: too many YAML alias references/);
    assert.doesNotMatch(msg, /ReferenceError|unexpected/);
  });
});

describe('overrides on a file with blocks of different tasks (configs/smoke.yaml)', () => {
  const SMOKE = join(ROOT, 'configs/smoke.yaml');
  const smokeError = async (overrides: string[]): Promise<string> => {
    try {
      await loadExperiment(SMOKE, await allTasks(), overrides);
    } catch (e) {
      assert.ok(e instanceof SpsError, `expected SpsError, got ${e}`);
      return e.message;
    }
    assert.fail('expected an error');
  };

  it('apply to every block whose schema has the key, and only to those', async () => {
    const loaded = await loadExperiment(SMOKE, await allTasks(), [
      'model.preset=lenet20-50-500',
      'model.char_hidden=12',
      'data.train_words=50',
      'train.epochs=2',
    ]);
    const [ocr, chunking, seg] = loaded.blocks.map((b) => b.experiment);
    assert.equal(ocr.model.preset, 'lenet20-50-500');
    assert.equal(ocr.data.train_words, 50);
    assert.equal(chunking.model.char_hidden, 12);
    assert.ok(!('preset' in chunking.model) && !('char_hidden' in seg.model) && !('train_words' in chunking.data));
    assert.deepEqual(
      loaded.blocks.map((b) => b.experiment.train.epochs),
      [2, 2, 2, 2],
    );
  });

  it('name the override and the block when a block rejects the value', async () => {
    const msg = await smokeError(['objectives=[ssvm]']);
    assert.match(
      msg,
      /^command-line override 'objectives=\[ssvm\]': blocks\[2\] \(segmentation\): objectives: task 'segmentation' does not support ssvm \(it supports: cross-entropy\)/,
    );
    assert.doesNotMatch(msg, /smoke\.yaml:\d+/, 'no line of the file is blamed');
    assert.match(await smokeError(['model.char_hidden=0']), /^command-line override 'model\.char_hidden=0': blocks\[1\] \(chunking\): model\.char_hidden: /);
  });

  it('are an error only when no block has the key, listing what each block allows', async () => {
    const msg = await smokeError(['model.nosuch=1']);
    assert.match(msg, /^command-line override 'model\.nosuch=1': model\.nosuch: no block has this key/);
    assert.match(msg, /blocks\[0\] \(ocr\) allows: preset, /);
    assert.match(msg, /blocks\[1\] \(chunking\) allows: char_embedding, char_hidden/);
  });
});
