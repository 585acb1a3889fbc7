import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { parse } from 'csv-parse/sync';
import { configDiffPaths } from '../src/results/run-config.js';
import { mean, sampleStd } from '../src/results/stats.js';
import { buildTable, type ResultsTable } from '../src/results/table.js';
import { loadPaperTable, parsePaperTable, type PaperEntry } from '../src/results/paper.js';
import { fmtDiff, formatOurs, parseFormat, renderTable, TABLE_FORMATS } from '../src/results/render.js';
import { listRuns } from '../src/results/store.js';
import type { FinalRecord, RunRecord } from '../src/core/records.js';
import { registerTable, tableCommand } from '../src/cli/table.js';
import { SpsError } from '../src/util/errors.js';
import { close, tempDir } from './helpers.js';

interface FakeRun {
  experiment?: string;
  task: string;
  objective: string;
  mode: string;
  seed: number;
  status?: RunRecord['status'];
  value?: number;
  planned?: number;
  config?: Record<string, unknown>;
  primary?: string;
}

let counter = 0;

/** Write one run folder the way src/core/records.ts describes it. */
function writeRun(root: string, r: FakeRun): void {
  const experiment = r.experiment ?? 'exp';
  const status = r.status ?? 'done';
  const id = `id${(counter++).toString().padStart(4, '0')}`;
  const dir = join(root, experiment, `${r.task}-${r.objective}-${r.mode}-seed${r.seed}-${id}`);
  mkdirSync(dir, { recursive: true });
  const config = { task: r.task, objective: r.objective, mode: r.mode, seed: r.seed, lr: 0.001, epochs: 10, ...(r.config ?? {}) };
  const run: RunRecord = {
    id,
    status,
    experiment,
    task: r.task,
    objective: r.objective,
    mode: r.mode,
    seed: r.seed,
    planned_seeds: r.planned ?? 1,
    started_at: '2024-01-01T00:00:00Z',
    versions: { sps: '0.1.0' },
    git: { commit: null, dirty: null },
    host: 'test',
    pid: 1,
    node: process.version,
    command: 'sps run test',
    ...(status === 'failed' ? { error: { message: 'boom' } } : {}),
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
  if (status === 'done') {
    const primary = r.primary ?? 'accuracy';
    const final: FinalRecord = { primary, metrics: { [primary]: r.value ?? 0, loss: 0.1 } };
    writeFileSync(join(dir, 'final.json'), JSON.stringify(final));
  }
}

function seeds(base: Omit<FakeRun, 'seed' | 'value'>, values: number[], status?: RunRecord['status']): FakeRun[] {
  return values.map((value, i) => ({ ...base, seed: i + 1, value, status }));
}

function makeResults(runs: FakeRun[]): string {
  const root = tempDir('sps-table-');
  for (const r of runs) writeRun(root, r);
  return root;
}

function cell(t: ResultsTable, task: string, objective: string, mode: string, experiment?: string) {
  return t.cells.find((c) => c.task === task && c.objective === objective && c.mode === mode && (experiment === undefined || c.experiment === experiment));
}

describe('statistics', () => {
  test('mean and sample std (n − 1)', () => {
    assert.equal(mean([96, 97, 98]), 97);
    assert.equal(sampleStd([96, 97, 98]), 1);
    // 90, 92, 97: mean 93, deviations −3, −1, 4 → ss 26, /2 = 13
    close(sampleStd([90, 92, 97]), Math.sqrt(13));
    assert.equal(sampleStd([97]), null);
    assert.equal(sampleStd([]), null);
    assert.ok(Number.isNaN(mean([])));
  });

  test('config diff paths', () => {
    assert.deepEqual(configDiffPaths({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 2] } }), []);
    assert.deepEqual(configDiffPaths({ a: 1, b: { c: [1, 2] } }, { a: 2, b: { c: [1, 3] }, d: true }), ['a', 'b.c[1]', 'd']);
  });

  test('signed differences', () => {
    assert.equal(fmtDiff(0.54), '+0.54');
    assert.equal(fmtDiff(-0.08), '−0.08');
    assert.equal(fmtDiff(-0.001), '0.00');
  });
});

describe('aggregation', () => {
  let root: string;
  let table: ResultsTable;
  before(() => {
    root = makeResults([
      ...seeds({ task: 'ocr', objective: 'cross-entropy', mode: 'joint', planned: 3 }, [96, 97, 98]),
      { task: 'ocr', objective: 'ssvm', mode: 'stage', seed: 1, value: 95.5, planned: 1 },
      // partial: 2 of 3 done, one failed (value of failed must not count)
      { task: 'ocr', objective: 'cross-entropy', mode: 'online', seed: 1, value: 90, planned: 3 },
      { task: 'ocr', objective: 'cross-entropy', mode: 'online', seed: 2, value: 92, planned: 3 },
      { task: 'ocr', objective: 'cross-entropy', mode: 'online', seed: 3, value: 10, planned: 3, status: 'failed' },
      // still running
      { task: 'ocr', objective: 'cross-entropy', mode: 'offline', seed: 1, planned: 2, status: 'running' },
      { task: 'ocr', objective: 'cross-entropy', mode: 'offline', seed: 2, value: 88, planned: 2 },
    ]);
    table = buildTable(listRuns(root));
  });

  test('mean, sample std, n of a complete cell', () => {
    const c = cell(table, 'ocr', 'cross-entropy', 'joint')!;
    assert.equal(c.mean, 97);
    assert.equal(c.std, 1);
    assert.equal(c.n, 3);
    assert.equal(c.planned, 3);
    assert.equal(c.flagged, false);
    assert.deepEqual(c.values, [96, 97, 98]);
    assert.deepEqual(c.seeds, [1, 2, 3]);
    assert.equal(formatOurs(c), '97.00 ± 1.00 (3)');
  });

  test('n = 1: std undefined, shown as —', () => {
    const c = cell(table, 'ocr', 'ssvm', 'stage')!;
    assert.equal(c.n, 1);
    assert.equal(c.std, null);
    assert.equal(c.flagged, false);
    assert.equal(formatOurs(c), '95.50 ± — (1)');
  });

  test('failed runs are ignored for the mean; partial cells are flagged', () => {
    const c = cell(table, 'ocr', 'cross-entropy', 'online')!;
    assert.equal(c.mean, 91);
    close(c.std, Math.SQRT2);
    assert.equal(c.n, 2);
    assert.equal(c.planned, 3);
    assert.equal(c.failed, 1);
    assert.equal(c.flagged, true);
    assert.equal(formatOurs(c), '91.00 ± 1.41 (2)*');
    const r = cell(table, 'ocr', 'cross-entropy', 'offline')!;
    assert.equal(r.unfinished, 1);
    assert.equal(r.flagged, true);
    assert.deepEqual(table.totals, { runs: 9, done: 7, failed: 1, unfinished: 1, damaged: 0 });
  });

  test('missing cells print as —, rows only where runs exist', () => {
    assert.deepEqual(
      table.rows.map((r) => `${r.task}/${r.objective}`),
      ['ocr/cross-entropy', 'ocr/ssvm'],
    );
    assert.equal(table.rows[1].cells['joint'], undefined);
    const text = renderTable(table, 'text');
    const ssvmLine = text.split('\n').find((l) => l.includes('ssvm'))!;
    assert.match(ssvmLine, /95\.50 ± — \(1\)/);
    assert.equal((ssvmLine.match(/—/g) ?? []).length, 5, 'one — for the std, four for the missing modes');
    assert.match(text, /\* fewer finished seeds than planned/);
    assert.match(text, /ocr \/ cross-entropy \/ online: 2 of 3 seeds finished \(1 failed\)/);
    assert.match(text, /ocr \/ cross-entropy \/ offline: 1 of 2 seeds finished \(1 unfinished\)/);
    assert.match(text, /sample standard deviation over seeds \(n − 1 denominator\)/);
    assert.match(text, /Metric \(final\.json primary\): ocr: accuracy \(letter accuracy\)/);
  });

  test('a cell whose runs all failed or stopped says "none finished", not — (no run at all)', () => {
    const t = buildTable(
      listRuns(
        makeResults([
          { task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 0, value: 90 },
          { task: 'ocr', objective: 'ssvm', mode: 'stage', seed: 0, status: 'failed', planned: 2 },
          { task: 'ocr', objective: 'ssvm', mode: 'stage', seed: 1, status: 'interrupted', planned: 2 },
        ]),
      ),
    );
    assert.equal(formatOurs(cell(t, 'ocr', 'ssvm', 'stage')), 'none finished*');
    assert.equal(formatOurs(cell(t, 'ocr', 'ssvm', 'online')), '—');
    const text = renderTable(t, 'text');
    assert.match(text, /— = no run of this cell; none finished = runs that have not finished/);
  });
});

describe('ordering and experiments', () => {
  test('rows: tasks and objectives in paper order, unknown tasks alphabetically; columns: paper modes then others', () => {
    const root = makeResults([
      { task: 'zeta', objective: 'ssvm', mode: 'joint', seed: 1, value: 50 },
      { task: 'segmentation', objective: 'cross-entropy', mode: 'stage', seed: 1, value: 80 },
      { task: 'alpha', objective: 'ssvm', mode: 'joint', seed: 1, value: 60 },
      { task: 'chunking', objective: 'cross-entropy-mf', mode: 'offline-reg', seed: 1, value: 88 },
      { task: 'chunking', objective: 'cross-entropy', mode: 'stage', seed: 1, value: 89 },
      { task: 'ocr', objective: 'log-likelihood', mode: 'custom-mode', seed: 1, value: 97 },
      { task: 'ocr', objective: 'my-objective', mode: 'joint', seed: 1, value: 96 },
      { task: 'ocr', objective: 'ssvm', mode: 'online', seed: 1, value: 97 },
    ]);
    const t = buildTable(listRuns(root));
    assert.deepEqual(
      t.rows.map((r) => `${r.task}/${r.objective}`),
      [
        'ocr/ssvm',
        'ocr/log-likelihood',
        'ocr/my-objective',
        'chunking/cross-entropy',
        'chunking/cross-entropy-mf',
        'segmentation/cross-entropy',
        'alpha/ssvm',
        'zeta/ssvm',
      ],
    );
    assert.deepEqual(t.modes, ['stage', 'joint', 'online', 'offline', 'offline-reg', 'custom-mode']);
    const md = renderTable(t, 'markdown');
    assert.ok(md.includes('| Task | Objective | stage | joint | online | offline | offline-reg | custom-mode |'));
  });

  test('experiments are kept apart and labelled; runs with other settings get their own row and a warning', () => {
    const root = makeResults([
      ...seeds({ experiment: 'exp-a', task: 'ocr', objective: 'cross-entropy', mode: 'joint', planned: 2 }, [96, 98]),
      ...seeds({ experiment: 'exp-b', task: 'ocr', objective: 'cross-entropy', mode: 'joint', planned: 2 }, [90, 90]),
      { experiment: 'exp-b', task: 'chunking', objective: 'ssvm', mode: 'joint', seed: 1, value: 85, planned: 2 },
      { experiment: 'exp-b', task: 'chunking', objective: 'ssvm', mode: 'joint', seed: 2, value: 87, planned: 2, config: { lr: 0.01 } },
    ]);
    const t = buildTable(listRuns(root));
    assert.deepEqual(
      t.rows.map((r) => r.label),
      ['ocr (exp-a)', 'ocr (exp-b)', 'chunking', 'chunking [lr=0.01]'],
    );
    assert.equal(cell(t, 'ocr', 'cross-entropy', 'joint', 'exp-a')!.mean, 97);
    assert.equal(cell(t, 'ocr', 'cross-entropy', 'joint', 'exp-b')!.mean, 90);
    assert.equal(cell(t, 'ocr', 'cross-entropy', 'joint', 'exp-b')!.std, 0);
    assert.deepEqual(cell(t, 'ocr', 'cross-entropy', 'joint', 'exp-a')!.configDiffers, [], 'seed alone does not count');
    const [ch, other] = t.cells.filter((c) => c.task === 'chunking');
    assert.deepEqual([ch.variant, other.variant], ['', 'lr=0.01']);
    assert.deepEqual(ch.configDiffers, ['lr']);
    assert.equal(t.warnings.length, 1);
    assert.match(
      t.warnings[0],
      /exp-b\/chunking\/ssvm\/joint: runs with different settings are kept apart \(differing: lr\): 1 finished with the main settings, 1 finished with \[lr=0\.01\]/,
    );
    assert.equal(formatOurs(ch), '85.00 ± — (1)*†', 'one of the 2 planned seeds each');
    assert.equal(formatOurs(other), '87.00 ± — (1)*†');
    const text = renderTable(t, 'text');
    assert.match(text, /ocr \(exp-a\)/);
    assert.match(text, /Warnings:/);
    const csv = parse(renderTable(t, 'csv'), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      csv.map((r) => r.experiment),
      ['exp-a', 'exp-b', 'exp-b', 'exp-b'],
    );
    assert.deepEqual(
      csv.map((r) => r.flagged),
      ['false', 'false', 'true', 'true'],
    );
    assert.equal(csv[2].config_differs, 'lr');
    assert.equal(csv[3].variant, 'lr=0.01');
  });
});

describe('--experiment', () => {
  const root = () =>
    makeResults([
      ...seeds({ experiment: 'ocr', task: 'ocr', objective: 'ssvm', mode: 'joint', planned: 2 }, [96, 98]),
      ...seeds({ experiment: 'study', task: 'ocr', objective: 'ssvm', mode: 'joint', planned: 2 }, [80, 82]),
    ]);

  test('keeps only the runs of the named experiments', () => {
    const { stdout } = tableCommand(root(), { experiment: 'ocr', format: 'csv' });
    const csv = parse(stdout, { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      csv.map((r) => [r.experiment, r.mean]),
      [['ocr', '97']],
    );
    const both = parse(tableCommand(root(), { experiment: 'ocr,study', format: 'csv' }).stdout, { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      both.map((r) => r.experiment),
      ['ocr', 'study'],
    );
  });

  test('a name with no run, or a malformed list, is an error that says what is there', () => {
    const dir = root();
    assert.throws(
      () => tableCommand(dir, { experiment: 'ocr,chunking' }),
      (e: Error) => e instanceof SpsError && /--experiment: no run of "chunking" under .*; the experiments there are: ocr, study\./.test(e.message),
    );
    assert.throws(() => tableCommand(dir, { experiment: 'ocr,' }), /--experiment ocr,: an empty name; give config names separated by commas/);
    assert.throws(() => tableCommand(dir, { experiment: 'a b' }), /'a b' is not an experiment name/);
  });
});

describe('--compare paper', () => {
  let paper: PaperEntry[];
  let table: ResultsTable;
  before(() => {
    paper = loadPaperTable();
    const root = makeResults([
      ...seeds({ task: 'ocr', objective: 'log-likelihood', mode: 'joint', planned: 3 }, [96, 97, 98]),
      { task: 'ocr', objective: 'ssvm', mode: 'stage', seed: 1, value: 97.27, planned: 1 },
      { task: 'ocr', objective: 'ssvm', mode: 'custom-mode', seed: 1, value: 50, planned: 1 },
    ]);
    table = buildTable(listRuns(root), { paper });
  });

  test('the shipped paper table loads (45 cells)', () => {
    assert.equal(paper.length, 45);
    assert.deepEqual(
      paper.find((p) => p.task === 'ocr' && p.objective === 'log-likelihood' && p.mode === 'joint'),
      {
        task: 'ocr',
        objective: 'log-likelihood',
        mode: 'joint',
        mean: 96.46,
        std: 0.25,
      },
    );
  });

  test('values and differences per cell', () => {
    const c = cell(table, 'ocr', 'log-likelihood', 'joint')!;
    assert.equal(c.paperMean, 96.46);
    assert.equal(c.paperStd, 0.25);
    close(c.diff, 0.54);
    const s = cell(table, 'ocr', 'ssvm', 'stage')!;
    close(s.diff, 97.27 - 96.97);
    // paper-only cell: no runs, paper values, no diff
    const p = cell(table, 'ocr', 'cross-entropy', 'stage')!;
    assert.equal(p.runs, 0);
    assert.equal(p.mean, null);
    assert.equal(p.paperMean, 97.18);
    assert.equal(p.diff, null);
    // our own mode: no paper value
    const u = cell(table, 'ocr', 'ssvm', 'custom-mode')!;
    assert.equal(u.paperMean, null);
    assert.equal(u.diff, null);
  });

  test('rows: the paper rows of the tasks present, not of other tasks', () => {
    assert.deepEqual(
      table.rows.map((r) => `${r.task}/${r.objective}`),
      ['ocr/cross-entropy', 'ocr/ssvm', 'ocr/log-likelihood', 'ocr/cross-entropy-mf'],
    );
    assert.equal(table.cells.filter((c) => c.task === 'ocr' && c.paperMean !== null).length, 20);
  });

  test('text shows ours, paper and Δ lines', () => {
    const text = renderTable(table, 'text');
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('log-likelihood') && l.includes('ours'));
    assert.ok(i > 0);
    assert.match(lines[i], /97\.00 ± 1\.00 \(3\)/);
    assert.match(lines[i + 1], /paper .*97\.15 ± 0\.13 .*96\.46 ± 0\.25/);
    assert.match(lines[i + 2], /Δ \(pp\) .*—.*\+0\.54/);
    assert.match(text, /Δ = ours − paper in percentage points/);
  });

  test('csv carries paper numbers and diffs unrounded', () => {
    const rows = parse(renderTable(table, 'csv'), { columns: true }) as Record<string, string>[];
    const r = rows.find((x) => x.objective === 'log-likelihood' && x.mode === 'joint')!;
    assert.equal(Number(r.mean), 97);
    assert.equal(Number(r.paper_mean), 96.46);
    assert.equal(Number(r.paper_std), 0.25);
    close(Number(r.diff), 0.54);
    const p = rows.find((x) => x.objective === 'cross-entropy' && x.mode === 'stage')!;
    assert.equal(p.mean, '');
    assert.equal(p.n, '0');
    assert.equal(p.diff, '');
    assert.equal(rows.length, 21);
  });

  test('markdown and latex compare layouts', () => {
    const md = renderTable(table, 'markdown');
    assert.ok(md.includes('| Task | Objective | Source | stage | joint | online | offline | offline-reg | custom-mode |'));
    assert.ok(md.includes('|  |  | paper | 97.15 ± 0.13 | 96.46 ± 0.25 | 97.17 ± 0.11 | 97.14 ± 0.13 | 97.08 ± 0.17 | — |'));
    assert.ok(md.includes('|  |  | Δ (pp) | — | +0.54 | — | — | — | — |'));
    const tex = renderTable(table, 'latex');
    assert.ok(tex.includes(' & ours & ---'));
    assert.ok(tex.includes('96.46 $\\pm$ 0.25'));
    assert.ok(tex.includes('$+0.54$'));
    assert.ok(tex.includes('$\\Delta$ (pp)'));
  });
});

describe('formats', () => {
  let table: ResultsTable;
  before(() => {
    const root = makeResults([
      ...seeds({ experiment: 'my_exp', task: 'ocr', objective: 'cross-entropy', mode: 'joint', planned: 3 }, [96, 97, 98]),
      ...seeds({ experiment: 'my_exp', task: 'ocr', objective: 'ssvm', mode: 'stage', planned: 3 }, [95.125, 96.5]),
      { experiment: 'my_exp', task: 'chunking', objective: 'ssvm', mode: 'online', seed: 1, value: 89.123456, planned: 1, primary: 'f1' },
    ]);
    table = buildTable(listRuns(root));
  });

  test('csv parses back to the same numbers', () => {
    const rows = parse(renderTable(table, 'csv'), { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(rows[0]).slice(0, 12), [
      'experiment',
      'task',
      'objective',
      'mode',
      'mean',
      'std',
      'n',
      'planned',
      'flagged',
      'paper_mean',
      'paper_std',
      'diff',
    ]);
    assert.equal(rows.length, 3);
    const [a, b, c] = rows;
    assert.deepEqual([a.experiment, a.task, a.objective, a.mode], ['my_exp', 'ocr', 'cross-entropy', 'joint']);
    assert.equal(Number(a.mean), 97);
    assert.equal(Number(a.std), 1);
    assert.equal(Number(a.n), 3);
    assert.equal(a.flagged, 'false');
    assert.equal(Number(b.mean), (95.125 + 96.5) / 2);
    close(Number(b.std), Math.abs(96.5 - 95.125) / Math.SQRT2);
    assert.equal(b.flagged, 'true');
    assert.equal(Number(b.planned), 3);
    assert.equal(Number(c.mean), 89.123456, 'unrounded');
    assert.equal(c.std, '', 'n = 1: empty std');
    assert.equal(c.metric, 'f1');
    assert.equal(a.paper_mean, '');
  });

  test('json parses back with the std kind', () => {
    const doc = JSON.parse(renderTable(table, 'json')) as { std_kind: string; compare: null; cells: Record<string, unknown>[] };
    assert.equal(doc.std_kind, 'sample');
    assert.equal(doc.compare, null);
    assert.equal(doc.cells.length, 3);
    assert.equal(doc.cells[0].mean, 97);
    assert.equal(doc.cells[0].std, 1);
    assert.deepEqual(doc.cells[0].values, [96, 97, 98]);
    assert.equal(doc.cells[1].flagged, true);
    assert.equal(doc.cells[2].std, null);
    assert.equal(doc.cells[2].mean, 89.123456);
  });

  test('markdown pipe table', () => {
    const md = renderTable(table, 'markdown');
    assert.ok(md.includes('| Task | Objective | stage | joint | online | offline | offline-reg |'));
    assert.ok(md.includes('| --- | --- | ---: | ---: | ---: | ---: | ---: |'));
    assert.ok(md.includes('| ocr | cross-entropy | — | 97.00 ± 1.00 (3) | — | — | — |'));
    assert.ok(md.includes('| ocr | ssvm | 95.81 ± 0.97 (2)\\* | — | — | — | — |'));
    assert.ok(md.includes('| chunking | ssvm | — | — | 89.12 ± — (1) | — | — |'));
  });

  test('latex tabular with booktabs and escaping', () => {
    const tex = renderTable(table, 'latex');
    assert.ok(tex.includes('\\begin{tabular}{llrrrrr}'));
    assert.ok(tex.includes('\\toprule'));
    assert.ok(tex.includes('\\midrule'));
    assert.ok(tex.includes('\\bottomrule'));
    assert.ok(tex.includes('ocr & cross-entropy & --- & 97.00 $\\pm$ 1.00 (3) & --- & --- & --- \\\\'));
    assert.ok(tex.includes('95.81 $\\pm$ 0.97 (2)$^{*}$'));
    assert.ok(tex.includes('89.12 $\\pm$ --- (1)'));
    assert.ok(!tex.includes('±'), 'no raw ± in latex');
    assert.ok(tex.includes('(n $<$ planned\\_seeds of the sweep)'), 'notes escaped for LaTeX');
  });

  test('latex escapes experiment names', () => {
    const root = makeResults([
      { experiment: 'a_b', task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, value: 90 },
      { experiment: 'c&d', task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, value: 91 },
    ]);
    const tex = renderTable(buildTable(listRuns(root)), 'latex');
    assert.ok(tex.includes('ocr (a\\_b) & ssvm'));
    assert.ok(tex.includes('ocr (c\\&d) & ssvm'));
  });

  test('unknown format is an SpsError naming the allowed values', () => {
    assert.deepEqual([...TABLE_FORMATS], ['text', 'markdown', 'csv', 'json', 'latex']);
    assert.throws(
      () => parseFormat('html'),
      (e: unknown) => e instanceof SpsError && /"html".*text, markdown, csv, json, latex/.test(e.message),
    );
  });
});

describe('paper table parsing', () => {
  test('rejects a bad header and bad numbers with the line', () => {
    assert.throws(() => parsePaperTable('a,b\n'), /line 1 must be the header/);
    assert.throws(() => parsePaperTable('task,objective,mode,mean,std\nocr,ssvm,joint,x,0.1\n', 'p.csv'), /p\.csv: line 2: mean and std must be numbers/);
    assert.throws(() => parsePaperTable('task,objective,mode,mean,std\nocr,ssvm,joint,1,0.1\nocr,ssvm,joint,2,0.1\n'), /line 3: duplicate cell/);
    assert.deepEqual(parsePaperTable('task,objective,mode,mean,std\r\nocr,ssvm,joint,1.5,0.1\r\n'), [
      { task: 'ocr', objective: 'ssvm', mode: 'joint', mean: 1.5, std: 0.1 },
    ]);
  });
});

describe('sps table through commander', () => {
  async function runCli(args: string[]): Promise<{ out: string; err: string }> {
    let out = '';
    let err = '';
    const program = new Command();
    program.exitOverride();
    registerTable(program, {
      out: (s) => {
        out += s;
      },
      err: (s) => {
        err += s;
      },
    });
    await program.parseAsync(['node', 'sps', 'table', ...args]);
    return { out, err };
  }

  test('text, csv and --compare paper end to end', async () => {
    const root = makeResults([
      ...seeds({ task: 'ocr', objective: 'log-likelihood', mode: 'joint', planned: 3 }, [96, 97, 98]),
      { task: 'ocr', objective: 'log-likelihood', mode: 'stage', seed: 1, value: 11, planned: 1, status: 'failed' },
    ]);
    const text = await runCli([root]);
    assert.match(text.out, /log-likelihood/);
    assert.match(text.out, /97\.00 ± 1\.00 \(3\)/);
    assert.match(text.out, /1 failed/);
    assert.equal(text.err, '');

    const csv = await runCli([root, '--format', 'csv', '--compare', 'paper']);
    const rows = parse(csv.out, { columns: true }) as Record<string, string>[];
    const r = rows.find((x) => x.objective === 'log-likelihood' && x.mode === 'joint')!;
    assert.equal(Number(r.mean), 97);
    assert.equal(Number(r.std), 1);
    assert.equal(Number(r.paper_mean), 96.46);
    assert.equal(Number(r.paper_std), 0.25);
    close(Number(r.diff), 0.54);
    const failedCell = rows.find((x) => x.objective === 'log-likelihood' && x.mode === 'stage')!;
    assert.equal(failedCell.n, '0');
    assert.equal(failedCell.failed, '1');
    assert.equal(failedCell.flagged, 'true');
    assert.equal(failedCell.mean, '');

    const json = await runCli([root, '--format', 'json']);
    assert.equal((JSON.parse(json.out) as { cells: unknown[] }).cells.length, 2);
  });

  test('errors: unknown format, unknown compare target, missing dir', async () => {
    const root = makeResults([{ task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, value: 90 }]);
    await assert.rejects(runCli([root, '--format', 'xml']), (e: unknown) => e instanceof SpsError && /text, markdown, csv, json, latex/.test(e.message));
    await assert.rejects(runCli([root, '--compare', 'other']), (e: unknown) => e instanceof SpsError && /paper/.test(e.message));
    await assert.rejects(runCli([join(root, 'nope')]), (e: unknown) => e instanceof SpsError && /no such results directory/.test(e.message));
  });

  test('no finished runs: a clear note, no error', async () => {
    const root = makeResults([{ task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, status: 'failed' }]);
    const res = await runCli([root]);
    assert.match(res.out, /No finished runs in .* \(1 run folder: 1 failed, 0 unfinished, 0 damaged\); nothing to tabulate/);
    const empty = tempDir('sps-table-empty-');
    assert.match(tableCommand(empty).stdout, /No finished runs .*no run folders/);
    const csv = tableCommand(empty, { format: 'csv' });
    assert.match(csv.stdout, /^experiment,task,objective,mode,mean,std,n,planned,flagged,paper_mean,paper_std,diff,/);
    assert.equal(csv.stdout.trim().split('\n').length, 1, 'header only');
    assert.match(csv.stderr, /No finished runs/);
    const json = tableCommand(empty, { format: 'json' });
    assert.deepEqual((JSON.parse(json.stdout) as { cells: unknown[] }).cells, []);
  });
});

/** A resolved cell config as `sps run` writes it (config.json), for the settings a mode reads. */
function cellConfig(mode: string, seed: number, train: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 2,
    experiment: 'exp',
    task: 'ocr',
    objective: 'ssvm',
    mode,
    seed,
    data: {},
    model: {},
    train: { epochs: 10, lr: 0.01, batch_size: 8, stage: { unary_epochs: 1 }, ...train },
    scaling: { alpha: 1, alpha_grid: [1], norm: 'rms', norm_over: 'example', lambda: 1, selection: { subset: 'validation', size: null } },
    backend: 'cpu',
  };
}

describe('runs with different settings in one cell', () => {
  test('are grouped by the settings that decide the result, one seed once, and flagged in every format', () => {
    const root = makeResults([
      { task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 0, value: 5, config: cellConfig('joint', 0) },
      { task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 0, value: 17.3, config: cellConfig('joint', 0, { epochs: 3 }) },
      // stage does not read train.epochs: these two are one setting, seeds 0 and 1.
      { task: 'ocr', objective: 'ssvm', mode: 'stage', seed: 0, value: 90, planned: 2, config: cellConfig('stage', 0) },
      { task: 'ocr', objective: 'ssvm', mode: 'stage', seed: 1, value: 92, planned: 2, config: cellConfig('stage', 1, { epochs: 3 }) },
    ]);
    const t = buildTable(listRuns(root));
    const joint = t.cells.filter((c) => c.mode === 'joint' && c.n > 0);
    assert.equal(joint.length, 2, 'two settings, two cells');
    assert.deepEqual(
      joint.map((c) => c.n),
      [1, 1],
    );
    assert.deepEqual(
      joint.map((c) => c.mean),
      [5, 17.3],
    );
    assert.ok(joint.every((c) => c.flagged));
    assert.deepEqual(
      joint.map((c) => c.variant),
      ['', 'train.epochs=3'],
    );
    const stage = t.cells.find((c) => c.mode === 'stage' && c.n > 0)!;
    assert.equal(stage.n, 2);
    assert.equal(stage.flagged, false);
    assert.deepEqual(stage.configDiffers, []);

    const text = renderTable(t, 'text');
    assert.match(text, /5\.00 ± — \(1\)†/);
    assert.match(text, /17\.30 ± — \(1\)†/);
    assert.match(text, /│ \[train\.epochs=3\] +│ ssvm +│ +— │ 17\.30 ± — \(1\)† │/);
    assert.deepEqual(
      t.rows.map((r) => r.label),
      ['ocr', 'ocr [train.epochs=3]'],
    );
    assert.doesNotMatch(text, /11\.15/);
    const csv = parse(renderTable(t, 'csv'), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      csv.filter((r) => r.mode === 'joint').map((r) => [r.n, r.flagged, r.variant]),
      [
        ['1', 'true', ''],
        ['1', 'true', 'train.epochs=3'],
      ],
    );
    const json = JSON.parse(renderTable(t, 'json')) as { cells: { mode: string; flagged: boolean }[] };
    assert.deepEqual(
      json.cells.filter((c) => c.mode === 'joint').map((c) => c.flagged),
      [true, true],
    );
    assert.match(renderTable(t, 'markdown'), /5\.00 ± — \(1\)†/);
    assert.match(renderTable(t, 'latex'), /5\.00 \$\\pm\$ --- \(1\)\$\^\{\\dagger\}\$/);
  });

  test('a seed with two finished runs of the same settings counts once', () => {
    const root = makeResults([
      { experiment: 'e', task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 0, value: 80, config: cellConfig('joint', 0) },
      { experiment: 'e', task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 0, value: 80, config: cellConfig('joint', 0) },
      { experiment: 'e', task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, value: 90, config: cellConfig('joint', 1) },
    ]);
    const t = buildTable(listRuns(root));
    const c = cell(t, 'ocr', 'ssvm', 'joint')!;
    assert.equal(c.n, 2);
    assert.deepEqual(c.seeds, [0, 1]);
    assert.equal(c.mean, 85);
    assert.ok(
      t.warnings.some((w) => /seed 0 has 2 finished runs/.test(w)),
      t.warnings.join('\n'),
    );
  });
});

describe('damaged and incomplete run folders in a table', () => {
  test('an invalid final.json, an unreadable run.json and a folder without run.json are reported, the rest is tabulated', () => {
    const root = makeResults([
      { task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, value: 90, planned: 3 },
      { task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 2, value: 91, planned: 3 },
      { task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 3, value: 92, planned: 3 },
    ]);
    const dirs = listRuns(root).map((r) => r.dir);
    writeFileSync(join(dirs[0], 'final.json'), '{}');
    writeFileSync(join(dirs[1], 'run.json'), '{"id": ');
    const orphan = join(root, 'exp', 'ocr-ssvm-joint-seed4-abcdefabcdef');
    mkdirSync(orphan);
    writeFileSync(join(orphan, 'config.json'), '{}');
    const out = tableCommand(root);
    assert.match(out.stdout, /92\.00 ± — \(1\)\*/);
    assert.ok(out.stdout.includes(join(dirs[0], 'final.json')), out.stdout);
    assert.ok(out.stdout.includes(join(dirs[1], 'run.json')), out.stdout);
    assert.ok(out.stdout.includes(orphan), out.stdout);
    assert.match(out.stdout, /no run\.json/);
    assert.match(out.stdout, /1 of 3 seeds finished \(1 damaged\)/);
    assert.match(out.stdout, /Runs: 4 \(1 finished, 0 failed, 1 unfinished, 2 damaged\)/);
  });

  test('a table whose only run is damaged says so instead of printing nothing', () => {
    const root = makeResults([{ task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, value: 90 }]);
    const [dir] = listRuns(root).map((r) => r.dir);
    writeFileSync(join(dir, 'final.json'), '{}');
    for (const format of ['text', 'csv'] as const) {
      const out = tableCommand(root, { format });
      assert.ok((out.stdout + out.stderr).includes(join(dir, 'final.json')), `${format}: ${out.stdout}${out.stderr}`);
    }
  });
});

describe('output endings', () => {
  test('every format ends with exactly one newline', () => {
    const root = makeResults([{ task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 1, value: 90 }]);
    const empty = tempDir('sps-table-empty-');
    for (const format of TABLE_FORMATS) {
      for (const dir of [root, empty]) {
        for (const compare of [undefined, 'paper']) {
          const { stdout } = tableCommand(dir, { format, compare });
          assert.ok(
            stdout.endsWith('\n') && !stdout.endsWith('\n\n'),
            `${format} ${compare ?? ''} ${dir === empty ? 'empty' : ''}: ${JSON.stringify(stdout.slice(-20))}`,
          );
        }
      }
    }
  });
});
