import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { needs, ROOT, runToyStudy, sps, tempDir, TOY_STUDY_SETTINGS } from './helpers.js';
import { writeFakeRegime } from './fixtures/fake-runs.js';

/**
 * Opens a generated report in headless Chromium (Debian's package, through playwright-core; no
 * browser download). npm test installs it as root (scripts/test-deps.sh); elsewhere the test reports
 * itself as not run, and fails under CI (test/helpers.ts needs()).
 */
/** Read inside the page (the test's tsconfig has no DOM library; the callbacks run in Chromium). */
declare const getComputedStyle: (e: unknown) => { backgroundColor: string };

/** Whether the element `first` is laid out above the element `then` on the page. */
async function above(page: Page, first: string, then: string): Promise<boolean> {
  const [a, b] = await Promise.all([page.locator(first).boundingBox(), page.locator(then).boundingBox()]);
  assert.ok(a && b, `${first} and ${then} are on the page`);
  return a.y < b.y;
}

const CHROMIUM = process.env.SPS_CHROMIUM ?? '/usr/bin/chromium';

const FIGURE_KINDS = ['cells', 'validation', 'norm-ratio', 'online-alpha', 'ocr-strip', 'segmentation'];

/**
 * Opens a report's index.html in headless Chromium and hands `check` the page with the console errors,
 * page errors and failed requests seen while it loaded; closes the browser however `check` ends.
 */
async function withReport(index: string, check: (p: { page: Page; errors: string[]; failed: string[] }) => Promise<void>): Promise<void> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const failed: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('requestfailed', (q) => failed.push(`${q.url()}: ${q.failure()?.errorText}`));
    await page.goto(pathToFileURL(index).href, { waitUntil: 'load' });
    await check({ page, errors, failed });
  } finally {
    await browser.close();
  }
}

/** A small real results folder: seeds 0 and 1 of the first objective of each task, every mode. */
function smokeResults(dest: string): number {
  let copied = 0;
  for (const [task, objective] of [
    ['ocr', 'cross-entropy'],
    ['chunking', 'cross-entropy'],
    ['segmentation', 'cross-entropy'],
  ]) {
    const dir = join(ROOT, 'results', task);
    for (const d of readdirSync(dir)) {
      if (!d.startsWith(`${task}-${objective}-`) || d.startsWith(`${task}-${objective}-mf`) || !/-seed[01]-/.test(d)) continue;
      cpSync(join(dir, d), join(dest, task, d), { recursive: true });
      copied += 1;
    }
  }
  return copied;
}

/**
 * Runs of the POS task, beyond the paper, made here on the embedded sample (no POS runs are
 * committed): log-likelihood, every mode, seeds 0 and 1, tiny; enough for its claims and curves.
 */
function posSampleRuns(tmp: string, dest: string): void {
  const config = join(tmp, 'pos.yaml');
  writeFileSync(
    config,
    [
      'name: pos',
      'task: pos',
      'objectives: [log-likelihood]',
      'modes: [stage, joint, online, offline, offline-reg]',
      'seeds: 2',
      'data: {source: sample, train_sentences: 40, validation_sentences: 20, test_sentences: 30}',
      'model: {char_hidden: 4, char_embedding: 4}',
      'train: {epochs: 2, batch_size: 16, stage: {unary_epochs: 1, pairwise_epochs: 1, joint_epochs: 1}}',
      'scaling: {alpha_grid: [0.5, 1, 2], selection: {size: 20}}',
      '',
    ].join('\n'),
  );
  const r = sps(['run', config, '--out', dest, '--jobs', '2', '--no-table']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /10 done now, 0 already done, 0 failed/, 'every POS cell finished');
}

test(
  'the report opens in a real browser: no errors, every figure has marks, claims rows, images load; a task beyond the paper has its marked section',
  { timeout: 480_000, ...needs('chromium', 'test/report-browser.test.ts:') },
  async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set SPS_CHROMIUM`);
    const tmp = tempDir('sps-report-');
    assert.equal(smokeResults(join(tmp, 'results')), 30);
    posSampleRuns(tmp, join(tmp, 'results', 'pos'));
    const datasets = join(ROOT, 'datasets');
    const out = join(tmp, 'report');
    const r = sps(['report', join(tmp, 'results'), '--compare', 'paper', '--out', out, '--datasets', datasets]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Claims: C1 /);

    await withReport(join(out, 'index.html'), async ({ page, errors, failed }) => {
      const figures = await page.$$eval('figure[data-kind]', (fs) =>
        fs.map((f) => ({
          id: f.id,
          kind: f.getAttribute('data-kind') ?? '',
          marks: f.querySelectorAll('g.role-mark path, g.role-mark rect, g.role-mark line, g.role-mark circle, g.role-mark text').length,
          images: f.querySelectorAll('img').length,
          caption: f.querySelector('figcaption')?.textContent ?? '',
          hasTitle: f.querySelector('svg') === null || (f.querySelector('svg g.role-title text')?.textContent ?? '') !== '',
          axisTitles: f.querySelectorAll('svg g.role-axis-title text').length,
        })),
      );
      for (const kind of FIGURE_KINDS)
        assert.ok(
          figures.some((f) => f.kind === kind),
          `a ${kind} figure is present`,
        );
      // 4 task panels + (validation, norm ratio, online α) for each of the 4 (task, objective) rows.
      assert.equal(figures.filter((f) => ['cells', 'validation', 'norm-ratio', 'online-alpha'].includes(f.kind)).length, 16);
      for (const f of figures) {
        if (f.kind === 'ocr-strip' || f.kind === 'segmentation') assert.ok(f.images > 0, `${f.id} has images`);
        else {
          assert.ok(f.marks >= 3, `${f.id} has marks (${f.marks})`);
          assert.ok(f.hasTitle && f.axisTitles >= 2, `${f.id} has a title and axis titles`);
        }
        assert.ok(f.caption.length > 40, `${f.id} has a caption`);
      }

      const claimRows = await page.$$eval('#claims-table tbody tr', (rows) =>
        rows.map((r) => ({ task: r.getAttribute('data-task'), claim: r.getAttribute('data-claim'), verdict: r.querySelector('td.verdict')?.textContent })),
      );
      // With --compare paper every (task, objective) of the paper's tasks gets C1–C4: 9 × 4 rows, 3 × 4
      // with our runs; the POS row adds its 4.
      assert.equal(claimRows.length, 40);
      const withData = claimRows.filter((r) => r.verdict !== 'no data');
      assert.equal(withData.length, 16, `C1–C4 for the 4 (task, objective) rows with runs: ${JSON.stringify(withData)}`);
      assert.deepEqual(
        withData.filter((r) => r.task === 'pos').map((r) => r.claim),
        ['C1', 'C2', 'C3', 'C4'],
      );

      // The POS section: last, marked beyond the paper, holding its cells, curves, norm ratios and α.
      const pos = await page.$eval('#task-pos', (h) => {
        const kinds: string[] = [];
        for (let e = h.nextElementSibling; e && e.tagName !== 'H2'; e = e.nextElementSibling)
          for (const f of [e, ...e.querySelectorAll('figure')]) if (f.matches('figure[data-kind]')) kinds.push(f.getAttribute('data-kind') ?? '');
        const next = h.nextElementSibling;
        return {
          heading: h.textContent,
          note: next?.textContent ?? '',
          visible: (h as unknown as { offsetHeight: number }).offsetHeight > 0,
          kinds,
        };
      });
      assert.equal(pos.heading, 'pos: beyond the paper');
      assert.ok(pos.visible);
      assert.match(pos.note, /^The paper does not test this task\./);
      assert.deepEqual([...pos.kinds].sort(), ['cells', 'norm-ratio', 'online-alpha', 'validation']);
      const sections = await page.$$eval('h2[id^="task-"]', (hs) => hs.map((h) => h.id));
      assert.equal(sections[sections.length - 1], 'task-pos', "after the paper's tasks");
      assert.deepEqual([...new Set(claimRows.map((r) => r.claim))].sort(), ['C1', 'C2', 'C3', 'C4']);

      // The verdict matrix opens the page: a row per (task, objective) of the paper, and the POS row
      // marked beyond the paper; a coloured cell per claim.
      const matrixRows = await page.$$eval('#verdict-matrix tbody tr', (rows) =>
        rows.map((r) => ({
          label: r.querySelector('th')?.textContent ?? '',
          cells: [...r.querySelectorAll('td')].map((td) => ({ verdict: td.querySelector('b')?.textContent ?? '', bg: getComputedStyle(td).backgroundColor })),
        })),
      );
      const matrix = matrixRows.map((row) => row.cells);
      assert.equal(matrix.length, 10);
      assert.equal(matrixRows[9].label, 'pos / log-likelihood (beyond the paper)');
      assert.ok(matrix.every((row) => row.length === 4));
      assert.equal(matrix.filter((row) => row.every((c) => c.verdict !== 'no data')).length, 4, 'the 4 rows with runs have a verdict per claim');
      for (const c of matrix.flat()) {
        const painted = c.bg !== 'rgba(0, 0, 0, 0)';
        assert.equal(painted, c.verdict !== 'no data', `a ${c.verdict} cell is ${painted ? '' : 'not '}coloured`);
      }
      assert.ok(await above(page, '#verdict-matrix', '#claims-table'), 'the matrix comes before the long claims table');

      const images = await page.$$eval('img', (is) => is.map((i) => ({ src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0 })));
      assert.ok(images.length >= 3 * 6, `${images.length} images`);
      for (const i of images) assert.ok(i.ok, `${i.src} loads`);

      assert.deepEqual(errors, [], 'no console errors');
      assert.deepEqual(failed, [], 'no failed requests');
      const shot = join(tmp, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000);
    });
  },
);

test(
  "a study's report (a two-key toy sweep) opens in a real browser: every setting labelled, its figures drawn, PNGs written",
  { timeout: 240_000, ...needs('chromium', 'test/report-browser.test.ts:') },
  async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set SPS_CHROMIUM`);
    const tmp = tempDir('sps-study-browser-');
    const results = join(tmp, 'my-study');
    const run = runToyStudy(results, ['--no-table']);
    assert.equal(run.code, 0, run.stderr);
    const out = join(tmp, 'report');
    const r = sps(['report', results, '--out', out, '--png'], { env: { SPS_CHROMIUM: CHROMIUM } });
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['setting-curves-toy-ssvm', 'setting-cells-toy']) assert.ok(statSync(join(out, 'figures', `${f}.png`)).size > 5_000, `${f}.png`);

    await withReport(join(out, 'index.html'), async ({ page, errors, failed }) => {
      assert.equal(await page.title(), 'sps report: toy-test by data.noise, model.init_scale');
      const settings = await page.$$eval('#claims-table tbody tr', (rows) => rows.map((x) => x.getAttribute('data-setting')));
      assert.deepEqual(settings, TOY_STUDY_SETTINGS);
      const figures = await page.$$eval('figure[data-kind]', (fs) =>
        fs.map((f) => ({
          kind: f.getAttribute('data-kind') ?? '',
          marks: f.querySelectorAll('g.role-mark path, g.role-mark line, g.role-mark circle').length,
          legend: [...f.querySelectorAll('svg g.role-legend-label text')].map((t) => t.textContent ?? ''),
        })),
      );
      for (const kind of ['setting-curves', 'setting-cells']) {
        const f = figures.find((x) => x.kind === kind);
        assert.ok(f, `a ${kind} figure`);
        assert.ok(f.marks >= 4, `${kind} has marks (${f.marks})`);
        assert.deepEqual(f.legend, ['0.5, 0.1', '0.5, 0.2', '1, 0.1', '1, 0.2'], `${kind}: a legend entry per setting`);
      }
      assert.deepEqual(errors, [], 'no console errors');
      assert.deepEqual(failed, [], 'no failed requests');
    });
  },
);

test(
  "a regime study's report opens with the regime map: a row per setting and claim, verdicts coloured, its figures drawn",
  { timeout: 240_000, ...needs('chromium', 'test/report-browser.test.ts:') },
  async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set SPS_CHROMIUM`);
    const tmp = tempDir('sps-regime-browser-');
    const results = writeFakeRegime(join(tmp, 'regime'));
    const out = join(tmp, 'report');
    const r = sps(['report', results, '--by', 'model.dropout', '--out', out]);
    assert.equal(r.code, 0, r.stderr);

    await withReport(join(out, 'index.html'), async ({ page, errors, failed }) => {
      const rows = await page.$$eval('#regime-map tbody tr', (trs) =>
        trs.map((tr) => {
          const verdict = tr.querySelector('td.verdict');
          return {
            cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
            verdict: verdict?.textContent ?? '',
            bg: verdict ? getComputedStyle(verdict).backgroundColor : '',
          };
        }),
      );
      assert.ok(rows.length > 0, 'the regime map has rows');
      for (const row of rows) assert.notEqual(row.bg, 'rgba(0, 0, 0, 0)', `the verdict ${row.verdict} is coloured`);
      const text = rows.map((x) => x.cells.join(' ')).join('\n');
      // The fixture's collapse: at dropout 0.5 joint is far below stage, so stage − joint is reproduced there.
      assert.match(text, /0\.5/);
      assert.ok(
        rows.some((x) => x.cells.some((c) => c.includes('0.5')) && x.verdict === 'yes'),
        `a reproduced row at dropout 0.5:\n${text}`,
      );
      assert.ok(await above(page, '#regime-map', '#claims'), 'the regime map comes before the claims');
      const figures = await page.$$eval('figure[data-kind^="regime"]', (fs) =>
        fs.map((f) => ({
          kind: f.getAttribute('data-kind') ?? '',
          marks: f.querySelectorAll('g.role-mark path, g.role-mark line, g.role-mark circle, g.role-mark rect').length,
          axisTitles: f.querySelectorAll('svg g.role-axis-title text').length,
        })),
      );
      assert.deepEqual(figures.map((f) => f.kind).sort(), ['regime-diff', 'regime-metric']);
      for (const f of figures) {
        assert.ok(f.marks >= 4, `${f.kind} has marks (${f.marks})`);
        assert.ok(f.axisTitles >= 2, `${f.kind} has axis titles`);
      }
      assert.deepEqual(errors, [], 'no console errors');
      assert.deepEqual(failed, [], 'no failed requests');
    });
  },
);
