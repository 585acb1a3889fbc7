// The pure parts of the benches (scripts/bench.ts): the summary of interleaved passes and the
// projection of the paper table from timed epochs, and its refusals. Nothing here times anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadExperiment } from '../src/config/load.js';
import { allTasks } from '../src/train/tasks/index.js';
import { overridesFor, planRuns, projectTable, timedCell, type PlannedRun } from '../bench/cells.js';
import { PYTORCH_TWINS, formatSpread, ratioOfMedians, spread } from '../bench/report.js';
import { chainFlops, ofPeak } from '../bench/peak.js';
import { epochRow, passOrder } from '../bench/epoch.js';
import { ROOT } from './helpers.js';

describe('bench: passes', () => {
  it('summarises passes as median, min and max, keeping every value in order', () => {
    assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, values: [3, 1, 2] });
    assert.equal(spread([4, 1, 3, 2]).median, 2.5);
    assert.equal(spread([5]).median, 5);
  });

  it('leaves failed passes (NaN) out of the figures but in the record; none finite gives NaN', () => {
    const s = spread([NaN, 10, 30]);
    assert.deepEqual([s.median, s.min, s.max], [20, 10, 30]);
    assert.equal(s.values.length, 3);
    assert.ok(Number.isNaN(spread([]).median));
    assert.ok(Number.isNaN(spread([NaN]).min));
    assert.equal(formatSpread(spread([NaN])), '—');
  });

  it('prints median (min–max), and the ratio is sps over PyTorch of the medians', () => {
    assert.equal(formatSpread(spread([39, 44, 42.4])), '42.4 (39.0–44.0)');
    assert.equal(formatSpread(spread([7, 7])), '7.0');
    assert.equal(ratioOfMedians(spread([10, 12, 11]), spread([20, 30, 22])), 0.5);
    assert.ok(Number.isNaN(ratioOfMedians(spread([10]), undefined)));
    assert.ok(Number.isNaN(ratioOfMedians(spread([10]), spread([NaN]))));
  });
});

describe('bench: distance to peak', () => {
  it("counts a chain row's multiply-adds over its transitions (mean field: positions and sweeps)", () => {
    // 2 sequences of lengths 3 and 1: 2 transitions, 4 positions; K = 5.
    assert.equal(chainFlops('log-likelihood', [3, 1], 5), 6 * 2 * 25);
    assert.equal(chainFlops('cross-entropy', [3, 1], 5), 12 * 2 * 25);
    assert.equal(chainFlops('cross-entropy-mf', [3, 1], 5, 10), 12 * 10 * 4 * 25);
    assert.equal(chainFlops('viterbi', [1, 1], 5), 0);
  });

  it('says how far a rate is from the peak, and — without either figure', () => {
    assert.equal(ofPeak(50, 100), '0.50 of peak');
    assert.equal(ofPeak(1, 44), '1/44 of peak');
    assert.equal(ofPeak(undefined, 100), '—');
    assert.equal(ofPeak(5, undefined), '—');
  });
});

describe('bench: the PyTorch twins', () => {
  it("lists exactly bench/pytorch_models.py's models", () => {
    const m = /^BENCHES = \{(.*)\}$/m.exec(readFileSync(join(ROOT, 'bench/pytorch_models.py'), 'utf8'));
    assert.ok(m, 'bench/pytorch_models.py: no BENCHES = {...} line');
    assert.deepEqual(
      [...m[1].matchAll(/"([\w-]+)":/g)].map((x) => x[1]),
      [...PYTORCH_TWINS],
    );
  });
});

describe('bench cells: the paper table', () => {
  it("counts configs/paper.yaml's runs and epochs per task from the configs, stage's phases included", async () => {
    const loaded = await loadExperiment(join(ROOT, 'configs/paper.yaml'), await allTasks());
    const runs = planRuns(loaded.blocks);
    const by = (task: string) => runs.filter((r) => r.task === task);
    assert.equal(runs.length, 225);
    assert.deepEqual(
      ['ocr', 'chunking', 'segmentation'].map((t) => [by(t).length, new Set(by(t).map((r) => r.epochs))]),
      [
        [100, new Set([20])],
        [100, new Set([5])],
        [25, new Set([40])],
      ],
    );
    const stage = by('ocr').find((r) => r.mode === 'stage')!;
    assert.deepEqual(stage.byKind, { unary: 8, pairwise: 4, all: 8 });
    assert.deepEqual(by('ocr').find((r) => r.mode === 'online')!.byKind, { all: 20 });
    // Segmentation's stage has no joint phase (28/12/0, chosen by study 4).
    assert.deepEqual(by('segmentation').find((r) => r.mode === 'stage')!.byKind, { unary: 28, pairwise: 12 });
    // The timed cell: log-likelihood where the task has it, else cross-entropy; joint; the first seed.
    const [ocr, , seg] = loaded.blocks;
    assert.deepEqual(timedCell(ocr), { objective: 'log-likelihood', mode: 'joint', seeds: [0, 1, 2, 3, 4] });
    assert.equal(timedCell(seg).objective, 'cross-entropy');
  });

  const run = (task: string, epochs: number): PlannedRun => ({ task, objective: 'log-likelihood', mode: 'joint', seed: 0, epochs, byKind: { all: epochs } });

  it('projects the wall time from epoch seconds, run overhead and the side-by-side slowdown', () => {
    const runs = [run('a', 10), run('a', 10), run('b', 2), run('b', 2)];
    const costs = { a: { epochSeconds: 3, overheadSeconds: 5, slowdown: 1.5 }, b: { epochSeconds: 10, overheadSeconds: 0, slowdown: 1 } };
    // Alone: a runs 35 s each, b 20 s each, one after another.
    const one = projectTable(runs, costs, 1);
    assert.deepEqual([one.wallSeconds, one.runSeconds], [110, 110]);
    assert.deepEqual(one.perTask.a, { runs: 2, epochs: 20, runSeconds: 70 });
    // Two slots: a at 52.5 s each side by side, then the b runs fill the slots as they free.
    const two = projectTable(runs, costs, 2);
    assert.deepEqual([two.wallSeconds, two.runSeconds], [72.5, 145]);
  });

  it('starts each run on the slot that frees first, in plan order', () => {
    const costs = { a: { epochSeconds: 1, overheadSeconds: 0, slowdown: 1 } };
    assert.equal(projectTable([run('a', 10), run('a', 1), run('a', 1), run('a', 10)], costs, 2).wallSeconds, 12);
    assert.equal(projectTable([run('a', 4), run('a', 4), run('a', 4)], costs, 3).wallSeconds, 4);
  });

  it('refuses a warm-up that is not a number of seconds ≥ 0, naming the flag', () => {
    for (const bad of ['-1', 'abc']) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bench.ts'), 'models', '--warmup', bad], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`--warmup ${bad}: give a number of seconds ≥ 0`));
    }
  });

  it('refuses a run whose task was not timed, and a bad --jobs', () => {
    const costs = { a: { epochSeconds: 1, overheadSeconds: 0, slowdown: 1 } };
    assert.throws(() => projectTable([run('a', 1), run('b', 1)], costs, 2), /no timed cell for task 'b'/);
    assert.throws(() => projectTable([run('a', 1)], costs, 0), /--jobs 0/);
  });

  it('sends plain overrides to every timed cell and TASK:key=value to that task only', () => {
    const o = ['data.source=sample', 'ocr:data.validation_words=50', 'chunking:data.validation_sentences=50'];
    assert.deepEqual(overridesFor('ocr', o), ['data.source=sample', 'data.validation_words=50']);
    assert.deepEqual(overridesFor('segmentation', o), ['data.source=sample']);
  });
});

describe('bench epoch: this tree against another commit', () => {
  it('alternates the two sides in each pass and flips the order every pass', () => {
    assert.deepEqual(passOrder(3), [
      ['here', 'against'],
      ['against', 'here'],
      ['here', 'against'],
    ]);
  });

  it("reports each side's median (min–max) and the speed-up as the other commit's median over this tree's", () => {
    const r = epochRow({ task: 'ocr', objective: 'log-likelihood', mode: 'joint', seed: 0 }, [10, 12, 11], [20, 19, 25]);
    assert.deepEqual([r.here.median, r.here.min, r.here.max], [11, 10, 12]);
    assert.equal(r.against.median, 20);
    assert.equal(r.speedup, 20 / 11);
    assert.ok(Number.isNaN(epochRow({ task: 'ocr', objective: 'x', mode: 'joint', seed: 0 }, [NaN], [1]).speedup), 'no finite epoch here: no ratio');
  });

  it('refuses to run without --against, and a revision git does not know, naming it', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bench.ts'), 'epoch', ...args], { encoding: 'utf8', timeout: 60_000 });
    const none = run();
    assert.equal(none.status, 1, none.stderr);
    assert.match(none.stderr, /give the commit to time against, e\.g\. --against/);
    const bad = run('--against', 'no-such-revision-xyz');
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /git rev-parse --verify no-such-revision-xyz\^\{commit\}/);
  });
});
