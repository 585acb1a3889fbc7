import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { escapeMarkdown } from '../src/results/report/claims-render.js';
import { writeReport } from '../src/results/report/site.js';
import { ROOT, runToyStudy, sps, tempDir, TOY_STUDY, TOY_STUDY_SETTINGS } from './helpers.js';

/**
 * Your own study, end to end (issue 30): a two-key sweep of the toy task through the CLI, and every
 * output after it labelled by the swept values: --dry-run, the end-of-sweep table, ls, report, plot.
 */

const VALUES = [
  ['0.5', '0.1'],
  ['0.5', '0.2'],
  ['1', '0.1'],
  ['1', '0.2'],
];

/** Table lines (cli-table3's │ columns) whose cells include `cells`, in order. */
const linesWith = (text: string, ...cells: string[]) =>
  text.split('\n').filter((l) => {
    const cols = l.split('│').map((c) => c.trim());
    let at = 0;
    return cells.every((c) => (at = cols.indexOf(c, at)) >= 0 && ++at > 0);
  });

describe('a two-key sweep of the toy task, labelled everywhere', () => {
  const out = join(tempDir('sps-study-'), 'my-study');

  it('--dry-run shows each swept key as a column, and -m is accepted with a hint', () => {
    const r = sps(['run', ...TOY_STUDY, '--out', out, '--dry-run', '-m']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /│ mode +│ data\.noise │ model\.init_scale │ seed │/);
    for (const mode of ['stage', 'joint'])
      for (const [noise, scale] of VALUES) assert.equal(linesWith(r.stdout, mode, noise, scale, '0').length, 1, `${mode} ${noise} ${scale}`);
    assert.match(r.stderr, /-m\/--multirun changes nothing in sps: an override key=a,b,c sweeps by itself \(this run sweeps data\.noise, model\.init_scale\)/);
  });

  it('the end-of-sweep table is the --by table: a row per setting, labelled, with "= joint"', () => {
    const r = runToyStudy(out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /│ task │ objective │ mode +│ data\.noise │ model\.init_scale │ test accuracy +│ val accuracy +│ = joint │ seeds │/);
    assert.doesNotMatch(r.stdout, /main settings|\[data\.noise/, 'no unlabelled main row, no labels in the task column');
    for (const [noise, scale] of VALUES) {
      assert.equal(linesWith(r.stdout, 'joint', noise, scale).length, 1, `joint ${noise} ${scale}`);
      // The toy task ignores the mode: stage's runs are joint's, to the bit.
      assert.equal(linesWith(r.stdout, 'stage', noise, scale, 'same').length, 1, `stage ${noise} ${scale}`);
    }
  });

  it('sps ls shows the swept values and metrics to 2 decimals', () => {
    const r = sps(['ls', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /│ data\.noise │ model\.init_scale │ seed │/);
    for (const mode of ['stage', 'joint'])
      for (const [noise, scale] of VALUES) assert.equal(linesWith(r.stdout, 'done', 'toy', 'ssvm', mode, noise, scale).length, 1);
    assert.match(r.stdout, /accuracy=\d+\.\d\d, /);
    assert.doesNotMatch(r.stdout, /accuracy=\d+\.\d{3}/);
  });

  it('sps report draws claims, curves and cells per setting, each labelled, under a title that names the keys', () => {
    const dest = join(tempDir('sps-study-report-'), 'report');
    const r = sps(['report', out, '--out', dest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /By data\.noise, model\.init_scale: 4 setting\(s\)/);
    const html = readFileSync(join(dest, 'index.html'), 'utf8');
    assert.match(html, /<title>sps report: toy-test by data\.noise, model\.init_scale<\/title>/);
    assert.match(html, /<h1>toy-test: claims, curves and cells by data\.noise, model\.init_scale<\/h1>/);
    assert.doesNotMatch(html, /which claims reproduce/);
    for (const label of TOY_STUDY_SETTINGS)
      assert.equal(html.split(`data-claim="C1" data-task="toy" data-objective="ssvm" data-setting="${label}"`).length - 1, 1, `a C1 row for ${label}`);
    assert.doesNotMatch(html, /data-claim="C[234]"/, 'no rows for modes the study did not run');
    assert.ok(existsSync(join(dest, 'figures', 'setting-curves-toy-ssvm.svg')));
    assert.ok(existsSync(join(dest, 'figures', 'setting-cells-toy.svg')));
    for (const f of ['setting-curves-toy-ssvm.svg', 'setting-cells-toy.svg']) {
      const svg = readFileSync(join(dest, 'figures', f), 'utf8');
      for (const [noise, scale] of VALUES) assert.ok(svg.includes(`${noise}, ${scale}`), `${f}: legend entry ${noise}, ${scale}`);
    }
    const md = readFileSync(join(dest, 'report.md'), 'utf8');
    // Config values are literal text in Markdown: init_scale's underscore is escaped.
    for (const label of TOY_STUDY_SETTINGS) assert.ok(md.includes(`- ${escapeMarkdown(label)}: 2 finished runs`), label);
    assert.ok(md.includes('model.init\\_scale=0.1'));
    assert.match(md, /\| data\.noise \| model\.init_scale \|/, 'the All cells table is the --by table');
    const by = sps(['report', out, '--out', dest, '--by', 'data.noise']);
    assert.equal(by.code, 0, by.stderr);
    assert.match(readFileSync(join(dest, 'index.html'), 'utf8'), /<title>sps report: toy-test by data\.noise<\/title>/);
  });

  it('sps plot draws one metric per setting; a metric no run logged lists those there are', () => {
    const dest = tempDir('sps-study-plot-');
    const r = sps(['plot', out, '--metric', 'val_accuracy', '--out', dest, '--format', 'svg']);
    assert.equal(r.code, 0, r.stderr);
    const svg = readFileSync(join(dest, 'val_accuracy-by-data.noise-model.init_scale.svg'), 'utf8');
    for (const [noise, scale] of VALUES) assert.ok(svg.includes(`${noise}, ${scale}`));
    assert.ok(!existsSync(join(dest, 'val_accuracy-by-data.noise-model.init_scale.png')), '--format svg writes no PNG');
    // Without Chromium: the SVG and a note by default; an asked-for PNG is an error that says what to install.
    const noBrowser = { SPS_CHROMIUM: join(dest, 'no-chromium') };
    const svgOnly = sps(['plot', out, '--metric', 'val_accuracy', '--out', join(dest, 'b')], { env: noBrowser });
    assert.equal(svgOnly.code, 0, svgOnly.stderr);
    assert.match(svgOnly.stdout, /^note: no PNG: it is drawn by Chromium, and .*no-chromium does not exist/);
    assert.ok(existsSync(join(dest, 'b', 'val_accuracy-by-data.noise-model.init_scale.svg')));
    for (const args of [
      ['plot', out, '--metric', 'val_accuracy', '--out', join(dest, 'c'), '--format', 'png'],
      ['report', out, '--out', join(dest, 'r'), '--png'],
    ]) {
      const refused = sps(args, { env: noBrowser });
      assert.equal(refused.code, 1, args.join(' '));
      assert.match(refused.stderr, /PNG figures are drawn by Chromium, and .*no-chromium does not exist: install it .*SPS_CHROMIUM/);
    }
    const missing = sps(['plot', out, '--metric', 'val_f1', '--out', dest]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--metric val_f1: no run in .* logged it per epoch; the metrics there are: train_accuracy, val_accuracy/);
  });
});

describe('a committed study drawn per setting', () => {
  it('sps report results/studies/online: claim rows and curves per grid and selection set', async () => {
    const dest = tempDir('sps-online-report-');
    const r = await writeReport(join(ROOT, 'results/studies/online/ocr'), { outDir: dest, dataDir: join(ROOT, 'datasets') });
    assert.deepEqual(r.by.keys, ['scaling.alpha_grid', 'scaling.alpha_grid_mode', 'scaling.selection.subset']);
    assert.equal(r.by.source, 'settings', 'written as blocks, before sweep.json recorded swept keys');
    assert.equal(r.by.settings.length, 6, '3 grids × 2 selection sets');
    const settings = new Set(r.claims.rows.map((row) => row.setting));
    assert.equal(settings.size, 6);
    assert.ok(
      r.claims.rows.every((row) => row.claim === 'C2'),
      'the study ran joint and online only',
    );
    // Joint (which reads no grid) is the reference of every grid with the validation selection set it ran with.
    assert.equal(r.claims.rows.filter((row) => row.verdict !== 'no data').length, 2 * 3);
    assert.ok(r.figures.some((f) => f.kind === 'setting-curves'));
  });
});
