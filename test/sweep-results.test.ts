import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildByTable } from '../src/results/by-table.js';
import { selectBest, selectPooled } from '../src/results/select.js';
import { renderByTable } from '../src/results/render.js';
import { readMetrics, scanResults } from '../src/results/store.js';
import { groupBySetting, studyKeys } from '../src/results/settings.js';
import { tableCommand } from '../src/cli/table.js';
import { parseWhere, selectCommand } from '../src/cli/select.js';
import { SpsError } from '../src/util/errors.js';
import { ROOT, sps, tempDir, TINY_TOY } from './helpers.js';
import { FAKE_MODES, writeFakeRun } from './fixtures/fake-runs.js';

interface Fake {
  mode?: string;
  /** Extra scaling keys of the run's config. */
  scaling?: Record<string, unknown>;
  seed: number;
  lr: number | string;
  test: number;
  /** Final validation accuracy; where: in final.json, or only in metrics.jsonl (a run from before final.json recorded it). */
  val?: number;
  where?: 'final' | 'metrics';
  epochs?: number;
  /** final.json's α (online scaling's last choice). */
  alpha?: number;
  /** Default ssvm. */
  objective?: string;
  /** Laid over the train and model sections. */
  train?: Record<string, unknown>;
  model?: Record<string, unknown>;
}

let n = 0;
/** A finished run folder of a cell config as `sps run` writes it (train and scaling sections, so the run-id settings apply). */
function writeRun(root: string, f: Fake): void {
  const mode = f.mode ?? 'joint';
  const objective = f.objective ?? 'ssvm';
  const id = `id${n++}`;
  const dir = join(root, `toy-${objective}-${mode}-seed${f.seed}-${id}`);
  mkdirSync(dir, { recursive: true });
  const config = {
    schema: 3,
    experiment: 'e',
    task: 'toy',
    objective,
    mode,
    seed: f.seed,
    data: {},
    model: { ...f.model },
    train: { lr: f.lr, epochs: f.epochs ?? 2, ...f.train },
    scaling: { alpha: 1, alpha_grid: [0.5, 1, 2], ...f.scaling },
    backend: 'cpu',
  };
  const run = { id, status: 'done', experiment: 'e', task: 'toy', objective, mode, seed: f.seed, planned_seeds: 2, started_at: '2026-01-01T00:00:00Z' };
  const final = {
    primary: 'accuracy',
    metrics: { accuracy: f.test },
    ...(f.val !== undefined && f.where !== 'metrics' ? { validation: { val_accuracy: f.val } } : {}),
    ...(f.alpha !== undefined ? { alpha: f.alpha } : {}),
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
  writeFileSync(join(dir, 'final.json'), JSON.stringify(final));
  if (f.where === 'metrics')
    writeFileSync(
      join(dir, 'metrics.jsonl'),
      [1, 2].map((e) => JSON.stringify({ epoch: e, phase: mode, losses: {}, metrics: { val_accuracy: e === 2 ? f.val : 0 } })).join('\n') + '\n',
    );
}

function folder(runs: Fake[]): string {
  const root = tempDir('sps-by-');
  for (const r of runs) writeRun(root, r);
  return root;
}

const byTable = (root: string, keys: string[], metric?: string) => buildByTable(scanResults(root).runs, keys, readMetrics, metric);

describe('sps table --by', () => {
  it('a key stored as absent at its default shows that default where the mode reads the key, nothing where it does not', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 50, val: 60, mode: 'online', scaling: { alpha_grid_mode: 'relative' } },
      { seed: 0, lr: 1, test: 51, val: 61, mode: 'online' },
      { seed: 0, lr: 1, test: 52, val: 62, mode: 'joint' },
    ]);
    const t = byTable(root, ['scaling.alpha_grid_mode']);
    assert.deepEqual(
      t.rows.map((r) => [r.cell.mode, r.by['scaling.alpha_grid_mode']]),
      [
        ['joint', undefined],
        ['online', 'absolute'],
        ['online', 'relative'],
      ],
    );
    const only = folder([{ seed: 0, lr: 1, test: 50, val: 60 }]);
    assert.deepEqual(
      byTable(only, ['train.select']).rows.map((r) => r.by['train.select']),
      ['last'],
      'no run has the key: its default, not an error',
    );
  });

  it('a row per swept value in value order, with the test and the final validation metric over seeds', () => {
    const root = folder([
      { seed: 0, lr: 10, test: 50, val: 60 },
      { seed: 1, lr: 10, test: 52, val: 62 },
      { seed: 0, lr: 2, test: 70, val: 71 },
      { seed: 1, lr: 2, test: 72, val: 73, where: 'metrics' },
      { seed: 0, lr: 0.5, test: 80, val: 40 },
      { seed: 1, lr: 0.5, test: 80, val: 40 },
    ]);
    const t = byTable(root, ['train.lr']);
    assert.deepEqual(
      t.rows.map((r) => r.by['train.lr']),
      [0.5, 2, 10],
      'numbers by size, not as text',
    );
    assert.deepEqual(
      t.rows.map((r) => [r.cell.mean, r.val.mean, r.val.n]),
      [
        [80, 40, 2],
        [71, 72, 2],
        [51, 61, 2],
      ],
    );
    assert.equal(t.rows[1].val.values[1], 73, 'an older run without final.json validation: the last epoch of metrics.jsonl');
    assert.deepEqual(t.warnings, [], 'settings that differ only in the --by key are no warning');
    const text = renderByTable(t, 'text');
    assert.match(text, /train\.lr .*test accuracy .*val accuracy /);
    assert.doesNotMatch(text, /val val_/, 'the validation column names the metric once');
    assert.match(text, /0\.5 .* 80\.00 ± 0\.00 \(2\) .* 40\.00 ± 0\.00 \(2\)/);
    assert.doesNotMatch(text, /†|other settings/);
    const csv = tableCommand(root, { by: 'train.lr', format: 'csv' }).stdout.trim().split('\n');
    assert.equal(csv[0].split(',').slice(0, 6).join(','), 'experiment,task,objective,mode,train.lr,other_settings');
    assert.equal(csv.length, 4);
  });

  it('rows that share the --by values but differ in another key are told apart', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 50, val: 50 },
      { seed: 0, lr: 1, test: 60, val: 60, epochs: 5 },
      { seed: 0, lr: 2, test: 60, val: 60 },
    ]);
    const text = renderByTable(byTable(root, ['train.lr']), 'text');
    assert.match(text, /other settings/);
    assert.match(text, /train\.epochs=5/);
  });

  it('errors: a key no run has, a malformed key list, --by with --compare', () => {
    const root = folder([{ seed: 0, lr: 1, test: 50, val: 50 }]);
    assert.throws(
      () => tableCommand(root, { by: 'train.lrx' }),
      (e: unknown) => e instanceof SpsError && /--by train\.lrx: no run's config\.json has this key/.test(e.message),
    );
    assert.throws(() => tableCommand(root, { by: 'train.lr,' }), /--by train\.lr,: an empty key/);
    assert.throws(() => tableCommand(root, { by: 'train.lr', compare: 'paper' }), /--by cannot be combined/);
    assert.throws(() => tableCommand(root, { by: 'train.lr', format: 'latex' }), /format "latex" is not supported with --by/);
  });
});

describe('sps table --by: online α and runs identical to joint', () => {
  it('online rows show the final α over seeds (mean [min, max]); a mode whose every seed equals joint\'s says "same"', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 50, val: 60 },
      { seed: 1, lr: 1, test: 52, val: 62 },
      { mode: 'online', seed: 0, lr: 1, test: 50, val: 60, alpha: 1 },
      { mode: 'online', seed: 1, lr: 1, test: 52, val: 62, alpha: 1 },
      { seed: 0, lr: 2, test: 40, val: 41 },
      { seed: 1, lr: 2, test: 42, val: 43 },
      { mode: 'online', seed: 0, lr: 2, test: 40, val: 41, alpha: 0.5 },
      { mode: 'online', seed: 1, lr: 2, test: 47, val: 48, alpha: 2 },
    ]);
    const t = byTable(root, ['train.lr']);
    const online = t.rows.filter((r) => r.cell.mode === 'online');
    assert.deepEqual(
      online.map((r) => r.alpha),
      [
        { mean: 1, min: 1, max: 1, n: 2 },
        { mean: 1.25, min: 0.5, max: 2, n: 2 },
      ],
    );
    assert.deepEqual(
      online.map((r) => r.sameAsJoint),
      [
        { same: 2, of: 2 },
        { same: 1, of: 2 },
      ],
      'compared with the joint row of the same lr',
    );
    assert.ok(t.rows.filter((r) => r.cell.mode === 'joint').every((r) => r.alpha === null && r.sameAsJoint === null));
    // Stage reads no train.lr: beside joint at two learning rates there is no one joint row to compare it with.
    const withStage = folder([
      { seed: 0, lr: 1, test: 50, val: 60 },
      { seed: 0, lr: 2, test: 40, val: 41 },
      { mode: 'stage', seed: 0, lr: 1, test: 50, val: 60 },
    ]);
    assert.deepEqual(
      byTable(withStage, ['train.lr']).rows.map((r) => [r.cell.mode, r.by['train.lr'], r.sameAsJoint]),
      [
        ['stage', undefined, null],
        ['joint', 1, null],
        ['joint', 2, null],
      ],
    );
    const text = renderByTable(t, 'text');
    assert.match(text, /online α .*= joint/);
    assert.match(text, /│ online │ 1 .*│ 1 +│ same +│/);
    assert.match(text, /│ online │ 2 .*│ 1\.25 \[0\.5, 2\] │ same in 1 of 2 │/);
    const json = JSON.parse(renderByTable(t, 'json')) as { rows: Record<string, unknown>[] };
    assert.deepEqual(
      json.rows.filter((r) => r.mode === 'online').map((r) => [r.online_alpha_mean, r.same_as_joint, r.compared_with_joint]),
      [
        [1, 2, 2],
        [1.25, 1, 2],
      ],
    );
  });
});

describe('settings of a study (results/settings.ts)', () => {
  it('a run whose mode does not read a key joins every setting that agrees with it; labels name the values', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 50, val: 60 },
      { mode: 'online', seed: 0, lr: 1, test: 51, val: 61, scaling: { alpha_grid: [0.5, 2] } },
      { mode: 'online', seed: 0, lr: 1, test: 52, val: 62, scaling: { alpha_grid: [0.1, 10] } },
      { seed: 0, lr: 2, test: 40, val: 41 },
      { mode: 'online', seed: 0, lr: 2, test: 42, val: 43, scaling: { alpha_grid: [0.5, 2] } },
    ]);
    const runs = scanResults(root).runs;
    const settings = groupBySetting(runs, ['train.lr', 'scaling.alpha_grid']);
    assert.deepEqual(
      settings.map((s) => s.label),
      ['train.lr=1, scaling.alpha_grid=[0.1,10]', 'train.lr=1, scaling.alpha_grid=[0.5,2]', 'train.lr=2, scaling.alpha_grid=[0.5,2]'],
    );
    assert.deepEqual(
      settings.map((s) => s.short),
      ['1, [0.1,10]', '1, [0.5,2]', '2, [0.5,2]'],
    );
    assert.deepEqual(
      settings.map((s) => s.runs.map((r) => `${r.run.mode}:${r.final!.metrics.accuracy}`).sort()),
      [
        ['joint:50', 'online:52'],
        ['joint:50', 'online:51'],
        ['joint:40', 'online:42'],
      ],
    );
    assert.deepEqual(
      groupBySetting(runs, []).map((s) => [s.label, s.runs.length]),
      [['all runs', 5]],
    );
    // Without sweep.json: the keys in which the runs of a cell differ (an α grid of different lengths, the lr).
    assert.deepEqual(studyKeys(root, runs), { keys: ['scaling.alpha_grid', 'train.lr'], source: 'settings' });
    assert.deepEqual(
      studyKeys(
        root,
        runs.filter((r) => r.config.train && (r.config.train as { lr: number }).lr === 2),
      ),
      { keys: [], source: 'settings' },
      'one setting per cell: nothing swept',
    );
  });
  it('sweep.json names the swept keys, in the order planned', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 50, val: 60 },
      { seed: 0, lr: 2, test: 40, val: 41 },
    ]);
    writeFileSync(
      join(root, 'sweep.json'),
      JSON.stringify({
        experiment: 'e',
        config_file: 'x.yaml',
        created_at: '2026-01-01T00:00:00Z',
        cells: [{ id: 'a', folder: 'a', task: 'toy', objective: 'ssvm', mode: 'joint', seed: 0, swept: { 'train.lr': 1 } }],
      }),
    );
    assert.deepEqual(studyKeys(root, scanResults(root).runs), { keys: ['train.lr'], source: 'sweep.json' });
  });
});

describe('sps select', () => {
  it('a validation metric no run has: the error lists those there are', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 50, val: 60 },
      { seed: 0, lr: 2, test: 40, val: 41 },
    ]);
    assert.throws(
      () => selectCommand(root, { by: 'train.lr', metric: 'val_f1' }),
      (e: unknown) =>
        e instanceof SpsError && /^--metric val_f1: no finished run in .* has this validation metric; the ones there are: val_accuracy$/.test(e.message),
    );
  });
  it('a task none of whose runs log the metric gets one note, not one per cell; a cell with some runs missing it still gets its own', () => {
    const root = tempDir('sps-by-two-tasks-');
    for (const mode of FAKE_MODES)
      for (const seed of [0, 1]) {
        writeFakeRun(root, { task: 'ocr', objective: 'ssvm', mode, seed, value: 90 });
        writeFakeRun(root, { task: 'chunking', objective: 'ssvm', mode, seed, value: 88, primary: 'f1' });
      }
    const misses = () => buildByTable(scanResults(root).runs, ['train.lr'], readMetrics, 'val_f1').warnings.filter((w) => w.includes('val_f1'));
    assert.deepEqual(misses(), ['exp/ocr: no run logs val_f1 (they log val_accuracy); its 5 cells are left out']);
    const odd = writeFakeRun(root, { task: 'chunking', objective: 'ssvm', mode: 'joint', seed: 2, value: 88 });
    assert.deepEqual(misses(), [
      'exp/ocr: no run logs val_f1 (they log val_accuracy); its 5 cells are left out',
      `exp/chunking/ssvm/joint: 1 run has no final validation metric val_f1 (${odd})`,
    ]);
  });

  it('chooses on the validation mean, not on test', () => {
    const root = folder([
      { seed: 0, lr: 0.1, test: 90, val: 60 },
      { seed: 1, lr: 0.1, test: 92, val: 62 },
      { seed: 0, lr: 0.01, test: 70, val: 80 },
      { seed: 1, lr: 0.01, test: 72, val: 70 },
    ]);
    const { selections } = selectBest(byTable(root, ['train.lr'], 'val_accuracy'), 'val_accuracy');
    assert.equal(selections.length, 1);
    assert.deepEqual(selections[0].values, { 'train.lr': 0.01 });
    assert.equal(selections[0].row.val.mean, 75);
    const out = selectCommand(root, { by: 'train.lr', metric: 'val_accuracy' });
    assert.match(out.stdout, /^e\/toy\/ssvm\/joint: train\.lr=0\.01 {2}val_accuracy 75\.00 ± 7\.07 \(2 seeds\), test accuracy 71\.00 ± 1\.41/);
    assert.match(out.stdout, /override: train\.lr=0\.01\n/);
    assert.equal((out.record as { override: string }).override, 'train.lr=0.01');
  });

  it('a tie goes to the smaller value, whatever the order of the runs', () => {
    for (const order of [
      [3, 1, 2],
      [1, 2, 3],
      [2, 3, 1],
    ]) {
      const root = folder(order.map((lr) => ({ seed: 0, lr, test: 50 + lr, val: lr === 3 ? 10 : 70 })));
      const { selections } = selectBest(byTable(root, ['train.lr'], 'val_accuracy'), 'val_accuracy');
      assert.deepEqual(selections[0].values, { 'train.lr': 1 }, `order ${order}`);
      assert.deepEqual(
        selections[0].tiedWith.map((r) => r.by['train.lr']),
        [2],
      );
    }
    const strings = folder([
      { seed: 0, lr: 'b', test: 1, val: 5 },
      { seed: 0, lr: 'a', test: 1, val: 5 },
    ]);
    assert.deepEqual(selectBest(byTable(strings, ['train.lr'], 'val_accuracy'), 'val_accuracy').selections[0].values, { 'train.lr': 'a' });
  });

  it('refuses a test metric, and settings the --by keys do not tell apart', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 50, val: 50 },
      { seed: 0, lr: 1, test: 60, val: 60, epochs: 5 },
    ]);
    for (const metric of ['accuracy', 'test_accuracy', 'f1']) {
      assert.throws(
        () => selectCommand(root, { by: 'train.lr', metric }),
        (e: unknown) => e instanceof SpsError && e.message.startsWith(`--metric ${metric}: not a validation metric`),
      );
    }
    assert.throws(() => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy' }), /several settings have train\.lr=1 \(they differ in train\.epochs\)/);
  });
});

describe('sps select --per task', () => {
  it('one choice for all cells: the best average of the cell means, not the favourite of one cell', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 1, val: 60 },
      { seed: 1, lr: 1, test: 1, val: 60 },
      { seed: 0, lr: 2, test: 1, val: 70 },
      { seed: 1, lr: 2, test: 1, val: 70 },
      { seed: 0, lr: 1, test: 1, val: 80, mode: 'online' },
      { seed: 1, lr: 1, test: 1, val: 80, mode: 'online' },
      { seed: 0, lr: 2, test: 1, val: 69, mode: 'online' },
      { seed: 1, lr: 2, test: 1, val: 69, mode: 'online' },
      // offline ran one candidate only: left out of both averages.
      { seed: 0, lr: 2, test: 1, val: 99, mode: 'offline' },
    ]);
    const { selections, notes } = selectPooled(byTable(root, ['train.lr'], 'val_accuracy'), 'val_accuracy');
    assert.equal(selections.length, 1);
    assert.deepEqual(selections[0].best.values, { 'train.lr': 1 });
    assert.deepEqual([selections[0].best.val, selections[0].candidates[1].val], [70, 69.5]);
    assert.deepEqual(selections[0].cells, ['ssvm/joint', 'ssvm/online']);
    assert.match(notes.join('\n'), /ssvm\/offline did not run every candidate/);
    // offline-reg never ran, and offline not every candidate (stage reads no train.lr): the rule refuses, --subset marks the choice.
    assert.throws(
      () => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', per: 'task' }),
      /e\/toy: --per task chooses over every objective .* reads train\.lr .*: ssvm\/offline, ssvm\/offline-reg\. Run them .* or pass --subset/,
    );
    const cli = selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', per: 'task', subset: true });
    assert.match(cli.stdout, /override: train\.lr=1\n/);
    assert.match(cli.stdout, /chosen over a subset \(--subset\): 2 cells the rule asks for are missing \(ssvm\/offline, ssvm\/offline-reg\)/);
    const [sel] = cli.record.selections as { override: string; subset: boolean; missing: string[] }[];
    assert.equal(sel.override, 'train.lr=1');
    assert.deepEqual([sel.subset, sel.missing], [true, ['ssvm/offline', 'ssvm/offline-reg']]);
  });

  it('a task-wide choice covers every objective of the task in every mode that reads the key (rule 2), or is refused', () => {
    const modes = ['stage', 'joint', 'online', 'offline', 'offline-reg'];
    const root = folder(
      modes.flatMap((mode, i) => [
        { seed: 0, lr: 1, test: 1, val: 60 + i, mode },
        { seed: 0, lr: 2, test: 1, val: 61 + i, mode },
      ]),
    );
    const full = selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', per: 'task' });
    assert.match(full.stdout, /averaged over 4 cells/, 'stage reads no train.lr');
    assert.doesNotMatch(full.stdout, /subset/);
    assert.equal((full.record.selections as { subset: boolean }[])[0].subset, false);
    // The task has a second objective that never ran: a choice on ssvm alone is a subset.
    const objectivesOf = (task: string) => (task === 'toy' ? ['ssvm', 'log-likelihood'] : undefined);
    assert.throws(
      () => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', per: 'task', objectivesOf }),
      /: log-likelihood\/joint, log-likelihood\/online, log-likelihood\/offline/,
    );
    // A key only online reads asks for online's cells alone.
    const grid = folder([
      { seed: 0, lr: 1, test: 1, val: 60, mode: 'online' },
      { seed: 0, lr: 1, test: 1, val: 61, mode: 'online', scaling: { alpha_grid_mode: 'relative' } },
    ]);
    assert.match(
      selectCommand(grid, { by: 'scaling.alpha_grid_mode', metric: 'val_accuracy', per: 'task' }).stdout,
      /override: scaling\.alpha_grid_mode=relative/,
    );
  });

  it('--where keeps the runs with those values; two settings of one cell under one candidate are refused', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 1, val: 60 },
      { seed: 0, lr: 2, test: 1, val: 50 },
      { seed: 0, lr: 1, test: 1, val: 40, epochs: 5 },
      { seed: 0, lr: 2, test: 1, val: 70, epochs: 5 },
    ]);
    assert.throws(
      () => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', per: 'task', subset: true }),
      /ssvm\/joint has several settings with train\.lr=1 \(they differ in train\.epochs\).*--where KEY=VALUE/,
    );
    const two = selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', per: 'task', subset: true, where: 'train.epochs=2' });
    assert.match(two.stdout, /override: train\.lr=1/);
    assert.deepEqual(two.record.where, { 'train.epochs': 2 });
    assert.match(selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', where: 'train.epochs=5' }).stdout, /train\.lr=2/);
    assert.throws(
      () => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', where: 'train.epochs=3' }),
      /--where train\.epochs=3: no run in .* has that value; the runs have train\.epochs = 2, 5/,
    );
    assert.throws(() => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', where: 'model.nope=1' }), /--where model\.nope: no run/);
    assert.throws(() => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', where: 'train.epochs' }), /'train\.epochs' is not key=value/);
  });

  it('--where takes a list value (an online grid): its commas stay in the value', () => {
    assert.deepEqual(parseWhere('scaling.alpha_grid=[0.5, 1,2],train.lr=0.001'), [
      ['scaling.alpha_grid', [0.5, 1, 2]],
      ['train.lr', 0.001],
    ]);
    const root = folder([
      { seed: 0, lr: 1, test: 1, val: 60, mode: 'online' },
      { seed: 0, lr: 2, test: 1, val: 50, mode: 'online' },
      { seed: 0, lr: 1, test: 1, val: 40, mode: 'online', scaling: { alpha_grid: [0.1, 10] } },
      { seed: 0, lr: 2, test: 1, val: 70, mode: 'online', scaling: { alpha_grid: [0.1, 10] } },
    ]);
    assert.match(selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', where: 'scaling.alpha_grid=[0.5,1,2]' }).stdout, /override: train\.lr=1/);
    assert.match(selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', where: 'scaling.alpha_grid=[0.1, 10]' }).stdout, /override: train\.lr=2/);
    assert.throws(
      () => parseWhere('scaling.alpha_grid=[0.1, 10'),
      (e: unknown) => e instanceof SpsError && /^--where scaling\.alpha_grid=\[0\.1, 10: '\[0\.1, 10' is not a YAML value \(.+\); give e\.g\./.test(e.message),
    );
  });

  it('a cell that reads only some of the keys (joint: no online grid) is left out, with a note', () => {
    const root = folder([
      { seed: 0, lr: 1, test: 1, val: 50, mode: 'joint' },
      { seed: 0, lr: 1, test: 1, val: 60, mode: 'online', scaling: { alpha_grid_mode: 'relative' } },
      { seed: 0, lr: 1, test: 1, val: 70, mode: 'online' },
    ]);
    const { selections, notes } = selectPooled(byTable(root, ['train.lr', 'scaling.alpha_grid_mode'], 'val_accuracy'), 'val_accuracy');
    assert.equal(selections.length, 1);
    assert.deepEqual(selections[0].cells, ['ssvm/online']);
    assert.deepEqual(selections[0].best.values, { 'train.lr': 1, 'scaling.alpha_grid_mode': 'absolute' });
    assert.match(notes.join('\n'), /ssvm\/joint reads only train\.lr of the keys and is left out/);
  });

  it("ssvm's maximiser, read by ssvm cells with dropout only: chosen over ssvm's cells; --where on it keeps the rest, so dropout is chosen over every objective", () => {
    const modes = ['stage', 'joint', 'online', 'offline', 'offline-reg'];
    const drop = { dropout: 0.5 };
    const root = folder(
      modes.flatMap((mode, i) => [
        { seed: 0, lr: 1, test: 1, val: 30 + i, mode, model: drop },
        { seed: 0, lr: 1, test: 1, val: 90 + i, mode, model: drop, train: { ssvm_maximiser: 'dropout-free' } },
        { seed: 0, lr: 1, test: 1, val: 80, mode }, // no dropout: both maximisers are one computation
        { seed: 0, lr: 1, test: 1, val: 95, mode, model: drop, objective: 'log-likelihood' },
        { seed: 0, lr: 1, test: 1, val: 90, mode, objective: 'log-likelihood' },
      ]),
    );
    const objectivesOf = () => ['ssvm', 'log-likelihood'];
    const t = byTable(root, ['train.ssvm_maximiser'], 'val_accuracy');
    const shown = (o: string, d: unknown) =>
      [
        ...new Set(
          t.rows
            .filter((r) => r.cell.objective === o && (r.runs[0].config.model as { dropout?: number }).dropout === d)
            .map((r) => r.by['train.ssvm_maximiser']),
        ),
      ].sort();
    assert.deepEqual(shown('log-likelihood', 0.5), [undefined]);
    assert.deepEqual(shown('ssvm', undefined), [undefined]);
    assert.deepEqual(shown('ssvm', 0.5), ['dropout-free', 'noisy']);
    const maximiser = selectCommand(root, { by: 'train.ssvm_maximiser', metric: 'val_accuracy', per: 'task', objectivesOf, where: 'model.dropout=0.5' });
    assert.match(maximiser.stdout, /averaged over 5 cells/);
    assert.match(maximiser.stdout, /override: train\.ssvm_maximiser=dropout-free/);
    assert.doesNotMatch(maximiser.stdout, /subset/);
    // Without --where, ssvm has two settings at dropout 0.5; with it, ssvm's cells without dropout stay (they do not read the key).
    assert.throws(
      () => selectCommand(root, { by: 'model.dropout', metric: 'val_accuracy', per: 'task', objectivesOf }),
      /several settings with model\.dropout=0\.5 \(they differ in train\.ssvm_maximiser\)/,
    );
    const dropout = selectCommand(root, { by: 'model.dropout', metric: 'val_accuracy', per: 'task', objectivesOf, where: 'train.ssvm_maximiser=dropout-free' });
    assert.match(dropout.stdout, /averaged over 10 cells/);
    assert.match(dropout.stdout, /override: model\.dropout=0\.5/);
    assert.doesNotMatch(dropout.stdout, /subset/);
    assert.throws(
      () => selectCommand(root, { by: 'train.lr', metric: 'val_accuracy', where: 'train.ssvm_maximiser=nope' }),
      /--where train\.ssvm_maximiser="nope": no run in .* has that value; the runs have train\.ssvm_maximiser = "dropout-free", "noisy"/,
    );
    const llOnly = folder([{ seed: 0, lr: 1, test: 1, val: 50, objective: 'log-likelihood', model: { dropout: 0.5 } }]);
    assert.throws(
      () => selectCommand(llOnly, { by: 'train.lr', metric: 'val_accuracy', where: 'train.ssvm_maximiser=dropout-free' }),
      /no run here reads train\.ssvm_maximiser \(only some cells do: ssvm with dropout, for its maximiser\)/,
    );
  });

  it('a tie goes to the smaller value; a test metric is refused', () => {
    const root = folder([
      { seed: 0, lr: 2, test: 1, val: 70 },
      { seed: 0, lr: 1, test: 1, val: 60 },
      { seed: 0, lr: 2, test: 1, val: 60, mode: 'online' },
      { seed: 0, lr: 1, test: 1, val: 70, mode: 'online' },
    ]);
    const { selections } = selectPooled(byTable(root, ['train.lr'], 'val_accuracy'), 'val_accuracy');
    assert.deepEqual(selections[0].best.values, { 'train.lr': 1 });
    assert.deepEqual(
      selections[0].tiedWith.map((t) => t.values),
      [{ 'train.lr': 2 }],
    );
    assert.throws(() => selectCommand(root, { by: 'train.lr', metric: 'accuracy', per: 'task' }), /not a validation metric/);
  });
});

describe('a tiny real sweep through the CLI', () => {
  it('sps run key=a,b, then table --by and select', () => {
    const dir = tempDir('sps-sweep-cli-');
    const out = join(dir, 'out');
    const run = sps(['run', join(ROOT, 'test/fixtures/toy.yaml'), 'train.lr=0.05,0.2', ...TINY_TOY, '--out', out, '--no-table', '-j', '1']);
    assert.equal(run.code, 0, run.stderr);
    const folders = readdirSync(out)
      .filter((f) => f.startsWith('toy-'))
      .sort();
    assert.equal(folders.length, 4);
    assert.deepEqual(
      folders.map((f) => f.replace(/-[0-9a-f]{12}$/, '')),
      ['toy-ssvm-joint-seed0-lr=0.05', 'toy-ssvm-joint-seed0-lr=0.2', 'toy-ssvm-joint-seed1-lr=0.05', 'toy-ssvm-joint-seed1-lr=0.2'],
    );
    const sweep = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as { cells: { folder: string; swept: Record<string, unknown> }[] };
    assert.deepEqual(
      sweep.cells.map((c) => c.swept['train.lr']),
      [0.05, 0.2, 0.05, 0.2],
    );
    const final = JSON.parse(readFileSync(join(out, folders[0], 'final.json'), 'utf8')) as {
      metrics: object;
      validation: Record<string, number>;
      validation_epoch: number;
    };
    assert.equal(typeof final.validation.val_accuracy, 'number');
    assert.equal(final.validation_epoch, 1);
    assert.ok('accuracy' in final.metrics, 'the test metrics stay');
    const table = sps(['table', out, '--by', 'train.lr']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /│ 0\.05 +│.*\(2\) +│.*\(2\)/);
    assert.doesNotMatch(table.stdout, /\*/, 'planned seeds count per swept value');
    const select = sps(['select', out, '--by', 'train.lr', '--metric', 'val_accuracy']);
    assert.equal(select.code, 0, select.stderr);
    assert.match(select.stdout, /override: train\.lr=0\.(05|2)\n/);
    assert.ok(existsSync(join(out, 'selection.json')));
    const refused = sps(['select', out, '--by', 'train.lr', '--metric', 'accuracy']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not a validation metric/);
  });
});

describe('train.select through the CLI', () => {
  it('best-val and last on the same cell: final.json records the selected epoch and its validation metrics', () => {
    const dir = tempDir('sps-select-cli-');
    const file = join(dir, 'tiny.yaml');
    writeFileSync(
      file,
      [
        'name: tiny',
        'task: ocr',
        'objectives: [log-likelihood]',
        'modes: [joint]',
        'seeds: [0]',
        'data: { source: sample, train_words: 24, validation_words: 12, test_words: 8 }',
        'model: { preset: lenet5, eval_batch: 4 }',
        'train: { epochs: 3, batch_size: 6, lr: 0.01 }',
        'sweep: { train.select: [last, best-val] }',
      ].join('\n') + '\n',
    );
    const out = join(dir, 'out');
    const run = sps(['run', file, '--out', out, '--no-table', '-j', '1', '--backend', 'cpu']);
    assert.equal(run.code, 0, run.stderr);
    const folders = readdirSync(out)
      .filter((f) => f.startsWith('ocr-'))
      .sort();
    assert.deepEqual(
      folders.map((f) => f.replace(/-[0-9a-f]{12}$/, '')),
      ['ocr-log-likelihood-joint-seed0-select=best_val', 'ocr-log-likelihood-joint-seed0-select=last'],
    );
    const read = (f: string) => ({
      final: JSON.parse(readFileSync(join(out, f, 'final.json'), 'utf8')) as {
        validation: Record<string, number>;
        validation_epoch: number;
        metrics: Record<string, number>;
      },
      epochs: readMetrics(join(out, f)),
    });
    const best = read(folders[0]);
    const last = read(folders[1]);
    // The same training (same seed, same stream): only which weights predict differs.
    assert.deepEqual(
      best.epochs.map((e) => e.metrics),
      last.epochs.map((e) => e.metrics),
    );
    const vals = best.epochs.map((e) => e.metrics.val_accuracy);
    const chosen = vals.indexOf(Math.max(...vals)) + 1;
    assert.equal(best.final.validation_epoch, chosen);
    assert.deepEqual(best.final.validation, { val_accuracy: vals[chosen - 1], val_word_accuracy: best.epochs[chosen - 1].metrics.val_word_accuracy });
    assert.equal(last.final.validation_epoch, 3);
    if (chosen === 3) assert.deepEqual(best.final.metrics, last.final.metrics);
  });
});
