/**
 * The regime view (src/results/report/regime.ts): the claims at every setting of the swept knobs, the
 * map of where joint fails and what recovers it, and its figures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scanResults } from '../src/results/store.js';
import { buildRegime, regimeAnswer, regimeFigures, regimeMap, regimeMapCells } from '../src/results/report/regime.js';
import { renderSvg } from '../src/results/report/vega.js';
import { tempDir } from './helpers.js';
import { FAKE_MODES, writeFakeRegime, writeFakeRun, writeFakeSettings } from './fixtures/fake-runs.js';

const MODES = FAKE_MODES;
const regimeFolder = (): string => writeFakeRegime(tempDir('sps-regime-'));

describe('regime view', () => {
  it('gives the claims at every setting of the knobs, and maps where joint fails and which modes recover it', () => {
    const report = buildRegime(scanResults(regimeFolder()).runs, ['model.dropout']);
    assert.deepEqual(
      report.points.map((p) => p.values),
      [{ 'model.dropout': 0 }, { 'model.dropout': 0.5 }],
      'dropout 0 is stored as an absent key and read as 0',
    );
    const map = regimeMap(report);
    assert.deepEqual(
      map.map((r) => [r.setting, r.jointFails, r.recoveredBy, r.worseThanJoint]),
      [
        ['model.dropout=0', '?', [], []],
        ['model.dropout=0.5', 'yes', ['offline'], []],
      ],
    );
    // At dropout 0 every mode equals joint seed by seed: stage − joint is 0 within the seeds' spread, neither sign.
    assert.equal(map[0].c1, '0.00 [−0.30, +0.30]');
    assert.match(map[1].c1, /^\+66\.\d\d \[/);
    assert.deepEqual(regimeMapCells(map[1]).slice(0, 3), ['ocr', 'ssvm', 'model.dropout=0.5']);
  });

  it('draws the metric along the knob and the differences with their intervals, as SVG with marks', async () => {
    const report = buildRegime(scanResults(regimeFolder()).runs, ['model.dropout', 'model.unary_scale']);
    const figures = regimeFigures(report, 'exp', 'ocr', 'ssvm');
    assert.deepEqual(
      figures.map((f) => f.kind),
      ['regime-metric', 'regime-diff'],
    );
    assert.match(figures[0].title, /along model\.dropout/, 'the knob with more than one value is the x axis');
    for (const f of figures) {
      const svg = await renderSvg(f.spec);
      assert.match(svg, /^<svg/);
      assert.match(svg, /model\.unary_scale=1/, 'the panel names the other knob');
      assert.ok((svg.match(/<path|<line|<circle/g) ?? []).length > 10, `${f.id} has marks`);
      assert.match(svg, /role-legend/, `${f.id} has a legend of the modes`);
      for (const mode of f.kind === 'regime-metric' ? MODES : MODES.filter((m) => m !== 'joint'))
        assert.match(svg, new RegExp(`>${mode}</text>`), `${f.id}'s legend names ${mode}`);
    }
    assert.deepEqual(regimeFigures(report, 'exp', 'ocr', 'log-likelihood'), []);
  });

  it("ssvm's maximiser as a knob: a cell that does not read it (ssvm without dropout, other objectives) is one setting, and is drawn in every maximiser's panel", () => {
    const root = regimeFolder();
    for (const mode of MODES)
      for (const seed of [0, 1]) {
        writeFakeRun(root, {
          task: 'ocr',
          objective: 'ssvm',
          mode,
          seed,
          value: 95 + seed * 0.1,
          model: { unary_scale: 1, dropout: 0.5 },
          train: { ssvm_maximiser: 'dropout-free' },
        });
        for (const dropout of [0, 0.5])
          writeFakeRun(root, {
            task: 'ocr',
            objective: 'log-likelihood',
            mode,
            seed,
            value: 96 + seed * 0.1,
            model: { unary_scale: 1, ...(dropout > 0 ? { dropout } : {}) },
          });
      }
    const knobs = ['model.dropout', 'model.unary_scale', 'train.ssvm_maximiser'];
    const report = buildRegime(scanResults(root).runs, knobs);
    assert.deepEqual(
      regimeMap(report).map((r) => `${r.objective}: ${r.setting}`),
      [
        'ssvm: model.dropout=0, model.unary_scale=1',
        'ssvm: model.dropout=0.5, model.unary_scale=1, train.ssvm_maximiser=dropout-free',
        'ssvm: model.dropout=0.5, model.unary_scale=1, train.ssvm_maximiser=noisy',
        'log-likelihood: model.dropout=0, model.unary_scale=1',
        'log-likelihood: model.dropout=0.5, model.unary_scale=1',
      ],
    );
    const [metric] = regimeFigures(report, 'exp', 'ocr', 'ssvm');
    const data = (metric.spec as unknown as { data: { values: { kind: string; x: string; panel: string }[] } }).data.values;
    const panelsAt = (x: string) => [...new Set(data.filter((d) => d.kind === 'mean' && d.x === x).map((d) => d.panel))].sort();
    assert.deepEqual(panelsAt('0.5'), ['model.unary_scale=1, train.ssvm_maximiser=dropout-free', 'model.unary_scale=1, train.ssvm_maximiser=noisy']);
    assert.deepEqual(panelsAt('0'), panelsAt('0.5'), 'the no-dropout point starts both lines');
  });

  it('says in a sentence per task where joint fails, by how much, and what recovers it, from the map', () => {
    const [answer, ...more] = regimeAnswer(regimeMap(buildRegime(scanResults(regimeFolder()).runs, ['model.dropout'])));
    assert.equal(more.length, 0);
    assert.match(
      answer,
      /^ocr: joint training loses to stage-wise training .* in 1 of 2 \(objective, setting\) rows \(ssvm 1\), by \+66\.\d\d to \+66\.\d\d points/,
    );
    assert.match(
      answer,
      /online in 0, offline in 1, offline-reg in 0\. The other 1 row of ssvm runs from 0\.00 to 0\.00 points, none above 0 with 95 % confidence\.$/,
    );
    const none = regimeAnswer(
      regimeMap(
        buildRegime(
          scanResults(regimeFolder()).runs.filter((r) => (r.config.model as { dropout?: number }).dropout === undefined),
          ['model.dropout'],
        ),
      ),
    );
    assert.deepEqual(none, [
      'ocr: joint training does not lose to stage-wise training in any of the 1 (objective, setting) rows: stage − joint runs from 0.00 to 0.00 points, and no 95 % interval lies above 0.',
    ]);
  });

  it('counts the rows where joint does not lose but a scaling mode beats it, and names the knob values they share', () => {
    const root = tempDir('sps-regime-beyond-');
    // Chunking-like: a badly scaled start (unary_scale 10) hurts stage and joint alike; offline resets the scale.
    const settings = [0, 0.5].flatMap((dropout) => [1, 10].map((scale) => [dropout, scale] as const));
    writeFakeSettings(root, { task: 'chunking', objective: 'log-likelihood' }, settings, (mode, seed, _dropout, scale) =>
      scale === 10 ? (mode === 'offline' ? 88 : mode === 'offline-reg' ? 70 : 81) + seed * 0.1 : 89 + seed * 0.1,
    );
    const knobs = ['model.dropout', 'model.unary_scale'];
    const [answer] = regimeAnswer(regimeMap(buildRegime(scanResults(root).runs, knobs)));
    assert.match(answer, /^chunking: joint training does not lose to stage-wise training in any of the 4 \(objective, setting\) rows/);
    assert.match(
      answer,
      / Where joint does not lose, a scaling mode still beats it \(better than joint with 95 % confidence, not worse than stage\) in 2 rows \(offline in 2\), all at model\.unary_scale=10\. A scaling mode falls below joint \(95 % confidence\) in 2 rows \(offline-reg in 2\)\.$/,
    );
    // One more objective whose offline also wins at one unary_scale=1 setting: most, not all, of the rows are at 10.
    writeFakeSettings(
      root,
      { task: 'chunking', objective: 'ssvm' },
      [
        [0, 10],
        [0.5, 1],
      ],
      (mode, seed) => (mode === 'offline' ? 88 : 81) + seed * 0.1,
    );
    const [more] = regimeAnswer(regimeMap(buildRegime(scanResults(root).runs, knobs)));
    assert.match(more, /in 4 rows \(offline in 4\), 3 of them at model\.unary_scale=10 \(of 3 rows there\)\./);
  });

  it('refuses two settings of one mode at one point, naming the key that differs', () => {
    const root = regimeFolder();
    writeFakeRun(root, { task: 'ocr', objective: 'ssvm', mode: 'joint', seed: 0, value: 50, model: { unary_scale: 1 }, train: { epochs: 3 } });
    assert.throws(
      () => buildRegime(scanResults(root).runs, ['model.dropout']),
      /joint at model\.dropout=0: several settings \(they differ in [^)]*train\.epochs\); add the differing key/,
    );
  });
});

describe('verdict matrix and regime map rendering', () => {
  it('one coloured cell per claim with d and its interval; strings from run folders are escaped in HTML and Markdown', async () => {
    const { buildClaims } = await import('../src/results/report/claims.js');
    const { verdictMatrixHtml, verdictMatrixMarkdown } = await import('../src/results/report/matrix.js');
    const { renderRegimeMapHtml, renderRegimeMapMarkdown } = await import('../src/results/report/regime.js');
    const root = regimeFolder();
    const evil = '<img src=x onerror=alert(1)>|*x*';
    for (const mode of MODES)
      for (const seed of [0, 1]) writeFakeRun(root, { task: 'ocr', objective: evil, mode, seed, value: mode === 'stage' ? 90 + seed : 80 + seed });
    const claims = buildClaims(scanResults(root).runs);
    const html = verdictMatrixHtml(claims);
    assert.equal((html.match(/<td class="verdict /g) ?? []).length, 4 * new Set(claims.rows.map((r) => `${r.experiment}/${r.task}/${r.objective}`)).size);
    assert.match(html, /<td class="verdict reproduced"><b>reproduced<\/b><br><span class="num">\+10\.00 \[/);
    assert.doesNotMatch(html, /<img/);
    assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
    const md = verdictMatrixMarkdown(claims);
    assert.match(md, /\\<img src=x onerror=alert\(1\)\\>\\\|\\\*x\\\*/);
    assert.equal(md.split('\n')[0].split(' | ').length, 5);
    const map = regimeMap(buildRegime(scanResults(root).runs, ['model.dropout']));
    assert.doesNotMatch(renderRegimeMapHtml(map), /<img/);
    assert.match(renderRegimeMapMarkdown(map), /\| ocr \| ssvm \| model\.dropout=0\.5 \| 30\.50 \(2\) \| \+66\.\d\d \[[^\]]+\] \| yes \| offline \| — \|/);
  });
});

describe('the report opens with the verdict matrix, or for a study with the regime map and its figures', () => {
  it('sps report --by model.dropout draws the regime map and figures; the paper view opens with the verdict matrix', async () => {
    const { writeReport } = await import('../src/results/report/site.js');
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = regimeFolder();
    const study = join(tempDir('sps-regime-report-'), 'report');
    const r = await writeReport(root, { outDir: study, dataDir: tempDir(), by: ['model.dropout'] });
    const html = readFileSync(join(study, 'index.html'), 'utf8');
    assert.ok(html.indexOf('id="regime-map"') > 0 && html.indexOf('id="regime-map"') < html.indexOf('id="claims"'), 'the map comes before the claims');
    assert.match(html, /<td class="verdict reproduced">yes<\/td>/);
    assert.deepEqual(
      r.figures.filter((f) => f.kind.startsWith('regime')).map((f) => f.kind),
      ['regime-metric', 'regime-diff'],
    );
    assert.match(readFileSync(join(study, 'report.md'), 'utf8'), /## Regime map: where joint training fails along model\.dropout/);
    const paper = join(tempDir('sps-regime-report-'), 'report');
    const only = tempDir('sps-regime-one-');
    for (const mode of MODES)
      for (const seed of [0, 1]) writeFakeRun(only, { task: 'ocr', objective: 'ssvm', mode, seed, value: mode === 'joint' ? 80 + seed : 90 + seed });
    await writeReport(only, { outDir: paper, dataDir: tempDir() });
    const page = readFileSync(join(paper, 'index.html'), 'utf8');
    assert.ok(page.indexOf('id="verdict-matrix"') > 0 && page.indexOf('id="verdict-matrix"') < page.indexOf('id="claims-table"'));
    assert.equal((page.match(/<td class="verdict reproduced"><b>reproduced<\/b>/g) ?? []).length, 4, 'stage and every scaling mode beat joint');
    assert.doesNotMatch(page, /id="regime-map"/);
    assert.doesNotMatch(page, /id="answer"/);
    // --regime: the paper view opens with the regime study's answer, above the verdict matrix.
    const opened = join(tempDir('sps-regime-report-'), 'report');
    await writeReport(only, { outDir: opened, dataDir: tempDir(), regime: { dir: root, by: ['model.dropout'] } });
    const withAnswer = readFileSync(join(opened, 'index.html'), 'utf8');
    assert.ok(withAnswer.indexOf('id="answer"') > 0 && withAnswer.indexOf('id="answer"') < withAnswer.indexOf('id="verdict-matrix"'), 'the answer comes first');
    assert.match(withAnswer, /<p class="answer">ocr: joint training loses to stage-wise training .* in 1 of 2 \(objective, setting\) rows \(ssvm 1\)/);
    const md = readFileSync(join(opened, 'report.md'), 'utf8');
    assert.ok(md.indexOf('## When does scaling matter?') < md.indexOf('## Verdicts at a glance'));
    assert.match(md, /along model\.dropout\); its map and figures: sps report .* --by model\.dropout\./);
    // A study folder with a quote and a blank is quoted for the shell in the command shown.
    const odd = writeFakeRegime(join(tempDir('sps-regime-odd-'), "it's here"));
    await writeReport(only, { outDir: opened, dataDir: tempDir(), regime: { dir: odd, by: ['model.dropout'] } });
    // (Markdown then escapes the backslash itself.)
    assert.ok(readFileSync(join(opened, 'report.md'), 'utf8').includes("sps report '" + odd.replace("it's", "it'\\\\''s") + "' --by model.dropout."));
    await assert.rejects(writeReport(only, { outDir: opened, dataDir: tempDir(), regime: { dir: tempDir() } }), /--regime .*: no finished runs there/);
    await assert.rejects(
      writeReport(only, { outDir: opened, dataDir: tempDir(), regime: { dir: only } }),
      /--regime .*: its runs were swept over no key; name the knobs with --regime-by/,
    );
    const { reportCommand } = await import('../src/cli/report.js');
    await assert.rejects(
      reportCommand(only, { out: opened, regimeBy: 'model.dropout' }),
      /--regime-by names the knobs of a regime study: give the study with --regime DIR too/,
    );
  });

  it('--figures keeps only the named groups of figures (a committed regime report without a norm figure per setting)', async () => {
    const { reportCommand } = await import('../src/cli/report.js');
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = regimeFolder();
    const files = (dir: string) => readdirSync(join(dir, 'figures')).sort();
    const all = join(tempDir('sps-regime-figs-'), 'all');
    await reportCommand(root, { out: all, by: 'model.dropout' });
    assert.deepEqual(files(all), ['regime-diff-exp-ocr-ssvm.svg', 'regime-exp-ocr-ssvm.svg', 'setting-cells-ocr.svg']);
    const regimeOnly = join(tempDir('sps-regime-figs-'), 'some');
    await reportCommand(root, { out: regimeOnly, by: 'model.dropout', figures: 'regime' });
    assert.deepEqual(
      files(regimeOnly),
      files(all).filter((f) => f.startsWith('regime')),
    );
    const html = readFileSync(join(regimeOnly, 'index.html'), 'utf8');
    assert.match(html, /Figures: regime only \(<code>--figures<\/code>\)\./);
    assert.match(html, /id="regime-map"/, 'the map is a table, not a figure: it stays');
    const cellsOnly = join(tempDir('sps-regime-figs-'), 'cells');
    await reportCommand(root, { out: cellsOnly, by: 'model.dropout', figures: 'cells,cells' });
    assert.deepEqual(files(cellsOnly), ['setting-cells-ocr.svg']);
    await assert.rejects(
      reportCommand(root, { out: cellsOnly, figures: 'regime,norm' }),
      /--figures regime,norm: 'norm' is not a figure group; give some of cells, curves, norms, alpha, regime, examples/,
    );
  });
});
