import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, sps, tempDir } from './helpers.js';
import { tQuantile } from '../src/results/stats.js';
import { fmtDiff } from '../src/results/render.js';

const REPORT = join(ROOT, 'docs/report');
const RESULTS = join(ROOT, 'results');

interface ClaimsJson {
  paper_assumed_n: number;
  rows: { task: string; objective: string; claim: string; verdict: string; ours: { diff: number; lo: number; hi: number; df: number } }[];
}

/** Primary test metric of every finished run of (task, objective, mode), read straight from final.json. */
function finals(task: string, objective: string, mode: string): number[] {
  const dir = join(RESULTS, task);
  const prefix = `${task}-${objective}-${mode}-seed`;
  return readdirSync(dir)
    .filter((d) => d.startsWith(prefix) && /^\d+-[0-9a-f]+$/.test(d.slice(prefix.length)))
    .filter((d) => JSON.parse(readFileSync(join(dir, d, 'run.json'), 'utf8')).status === 'done')
    .map((d) => {
      const f = JSON.parse(readFileSync(join(dir, d, 'final.json'), 'utf8'));
      return f.metrics[f.primary] as number;
    });
}

describe('docs/report agrees with results/', () => {
  test('C1 (stage − joint) of chunking / cross-entropy, recomputed from the final.json files', () => {
    const stage = finals('chunking', 'cross-entropy', 'stage');
    const joint = finals('chunking', 'cross-entropy', 'joint');
    assert.ok(stage.length >= 2 && joint.length >= 2, 'the committed results have the seeds of this cell');
    const m = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const v = (xs: number[]) => xs.reduce((a, x) => a + (x - m(xs)) ** 2, 0) / (xs.length - 1) / xs.length;
    const diff = m(stage) - m(joint);
    const se = Math.sqrt(v(stage) + v(joint));
    const df = se ** 4 / (v(stage) ** 2 / (stage.length - 1) + v(joint) ** 2 / (joint.length - 1));
    const half = tQuantile(0.975, df) * se;

    const claims = JSON.parse(readFileSync(join(REPORT, 'claims.json'), 'utf8')) as ClaimsJson;
    const row = claims.rows.find((r) => r.task === 'chunking' && r.objective === 'cross-entropy' && r.claim === 'C1');
    assert.ok(row, 'docs/report/claims.json has the row');
    assert.ok(Math.abs(row.ours.diff - diff) < 1e-9, `diff ${row.ours.diff} vs ${diff}`);
    assert.ok(Math.abs(row.ours.lo - (diff - half)) < 1e-9 && Math.abs(row.ours.hi - (diff + half)) < 1e-9);
    assert.equal(row.verdict, diff - half > 0 ? 'reproduced' : diff + half < 0 ? 'contradicted' : 'inconclusive');
    assert.equal(claims.paper_assumed_n, 5);

    // The Markdown and HTML tables show the same numbers.
    const shown = `${fmtDiff(diff)} [${fmtDiff(diff - half)}, ${fmtDiff(diff + half)}] (${stage.length} vs ${joint.length})`;
    const md = readFileSync(join(REPORT, 'report.md'), 'utf8');
    assert.ok(md.includes(`| chunking | cross-entropy | C1: stage − joint | ${shown} |`), `report.md shows ${shown}`);
    assert.ok(readFileSync(join(REPORT, 'index.html'), 'utf8').includes(shown));
  });

  test('the figures that report.md links exist', () => {
    const md = readFileSync(join(REPORT, 'report.md'), 'utf8');
    const links = [...md.matchAll(/\]\(((?:figures|images)\/[^)]+)\)/g)].map((x) => x[1]);
    assert.ok(links.length > 30, `${links.length} links`);
    for (const l of links) assert.ok(existsSync(join(REPORT, l)), `${l} exists`);
  });
});

describe("docs/regime is the regime study's report", () => {
  test('regenerated from results/studies/regime with the command its README gives, it is the committed one', () => {
    const out = join(tempDir(), 'regime');
    const r = sps([
      'report',
      'results/studies/regime',
      '--by',
      'model.dropout,model.unary_scale,train.ssvm_maximiser',
      '--figures',
      'regime,cells',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['report.md', 'claims.json', 'index.html'])
      assert.ok(readFileSync(join(out, f), 'utf8') === readFileSync(join(ROOT, 'docs/regime', f), 'utf8'), `docs/regime/${f} is what sps report writes now`);
    assert.deepEqual(readdirSync(join(out, 'figures')).sort(), readdirSync(join(ROOT, 'docs/regime/figures')).sort());
  });
});

describe('sps report and sps table --claims: bad input', () => {
  test('a missing results folder is named', () => {
    const out = tempDir();
    const r = sps(['report', join(out, 'nope'), '--out', join(out, 'rep')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /nope: no such results directory/);
  });
  test('an --experiment with no run is named, with the experiments that are there', () => {
    const r = sps(['report', RESULTS, '--experiment', 'ocr,no-such-study', '--out', join(tempDir(), 'rep')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--experiment: no run of "no-such-study" under .*results; the experiments there are: .*chunking.*ocr.*segmentation/);
  });
  test('an unknown --compare target is refused', () => {
    const r = sps(['report', RESULTS, '--compare', 'arxiv', '--out', join(tempDir(), 'rep')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown --compare target "arxiv": use one of paper/);
  });
  test('--claims refuses the machine formats and says what to use', () => {
    const r = sps(['table', RESULTS, '--claims', '--format', 'csv']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--claims prints text or markdown, not "csv"/);
  });
  test('--claims prints every row and the summary lines', () => {
    const r = sps(['table', join(RESULTS, 'segmentation'), '--claims', '--compare', 'paper', '--format', 'markdown']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/^\| segmentation \| cross-entropy \| C\d/gm)?.length, 4);
    assert.match(r.stdout, /^- All: C1 (reproduced|contradicted|inconclusive)/m);
    assert.match(r.stdout, /n = 5 seeds per cell \(an assumption/);
  });
});
