/**
 * The committed study files (configs/studies, docs/studies.md) stay loadable and plan the cells their
 * READMEs describe; scripts/run-studies.sh refuses a study that does not exist.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { plannedRunIds, ROOT, script, tempDir, TINY_TOY } from './helpers.js';

/** Distinct run ids each study file plans (blocks may list a cell twice; it runs once). */
const EXPECTED: Record<string, number> = {
  'online-ocr': 28,
  'online-chunking': 28,
  'offline-reg-ocr': 32,
  'offline-reg-chunking': 32,
  optimizer: 36,
  'ssvm-dropout': 16,
  'stage-schedule': 10,
  'mf-stability-ocr': 15,
  'mf-stability-chunking': 15,
  'ocr-level': 16,
  'regime-ocr': 360,
  'regime-ocr-ssvm': 60,
  'regime-chunking': 240,
  'regime-chunking-ssvm': 30,
  // 20 current-settings cells + 20 each for dropout 0 and 0.25, 10 epochs, lr 1e-3 and no clipping + 2 × 4 online grids + 2 × 8 α + 2 × 4 λ.
  'reopened-ocr': 152,
  // 20 current-settings cells + 20 with dropout 0.5 + 5 ssvm at dropout 0.5 with the dropout-free maximiser + 20 without clipping + 2 × 4 online grids + 2 × 4 λ.
  'reopened-chunking': 81,
  // 20 first-settings cells + 2 × 16 learning rates + 2 × 8 α + 2 × 4 λ (configs/studies/pos-select.yaml).
  'pos-select': 76,
  // Stage's own rates, 3 times and 0.3 times the first ones, over stage's 4 cells.
  'pos-select-stage': 8,
};

describe('configs/studies', () => {
  it('every study file loads and plans the number of cells its README describes', async () => {
    const files = readdirSync(join(ROOT, 'configs/studies')).filter((f) => f.endsWith('.yaml'));
    assert.deepEqual(files.map((f) => f.replace(/\.yaml$/, '')).sort(), Object.keys(EXPECTED).sort());
    for (const f of files) {
      const ids = new Set(await plannedRunIds(join(ROOT, 'configs/studies', f)));
      assert.equal(ids.size, EXPECTED[f.replace(/\.yaml$/, '')], f);
    }
  });

  it('scripts/run-studies.sh refuses a study that does not exist, naming it', () => {
    const r = script('run-studies.sh', [tempDir('sps-studies-'), 'no-such-study']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /configs\/studies\/no-such-study\.yaml does not exist/);
  });

  it('scripts/timed-run.sh runs a sweep and logs one line of wall time per run of it; a missing config is refused', () => {
    const dir = tempDir('sps-timed-');
    const times = join(dir, 'times.tsv');
    for (let i = 0; i < 2; i++) {
      const r = script('timed-run.sh', [times, 'test/fixtures/toy.yaml', join(dir, 'out'), ...TINY_TOY, 'seeds=1']);
      assert.equal(r.code, 0, r.stderr);
    }
    const lines = readFileSync(times, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'commit\tconfig\tstarted\tended\tseconds\texit');
    assert.equal(lines.length, 3, 'one line per run, the second a resume');
    assert.match(lines[1], /^[0-9a-f]{12}\ttest\/fixtures\/toy\.yaml\t\S+Z\t\S+Z\t\d+\t0$/);
    const missing = script('timed-run.sh', [times, 'configs/no-such.yaml', dir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /configs\/no-such\.yaml does not exist/);
  });
});
