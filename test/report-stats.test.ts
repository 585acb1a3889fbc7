import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { tQuantile, welchInterval } from '../src/results/stats.js';
import { verdictOf, summaryText, CLAIMS, type ClaimId, type Verdict } from '../src/results/report/claims.js';

describe('Student t quantiles (jstat) against a statistics table', () => {
  // Two-sided 95 % critical values t_{0.975, df} and one one-sided 95 % value, as printed in t tables.
  const table: [number, number, number][] = [
    [0.975, 1, 12.706],
    [0.975, 2, 4.303],
    [0.975, 4, 2.776],
    [0.975, 8, 2.306],
    [0.975, 10, 2.228],
    [0.975, 30, 2.042],
    [0.95, 10, 1.812],
    [0.995, 5, 4.032],
  ];
  for (const [p, df, expected] of table) {
    test(`t_{${p}, ${df}} = ${expected}`, () => {
      assert.ok(Math.abs(tQuantile(p, df) - expected) < 5e-4, `got ${tQuantile(p, df)}`);
    });
  }
  test('fractional degrees of freedom lie between the neighbouring integers', () => {
    const t = tQuantile(0.975, 5.5);
    assert.ok(t < tQuantile(0.975, 5) && t > tQuantile(0.975, 6));
  });
  test('bad arguments are refused with what was wrong', () => {
    assert.throws(() => tQuantile(1, 4), /p must lie in \(0, 1\), got 1/);
    assert.throws(() => tQuantile(0.975, 0), /df must be a positive finite number, got 0/);
  });
});

describe('Welch interval', () => {
  test('a worked example: [1..5] against [2,4,..,10]', () => {
    // means 3 and 6, variances 2.5 and 10: se² = 0.5 + 2 = 2.5, df = 2.5² / (0.5²/4 + 2²/4) = 5.882…
    const d = welchInterval({ mean: 6, std: Math.sqrt(10), n: 5 }, { mean: 3, std: Math.sqrt(2.5), n: 5 });
    assert.equal(d.diff, 3);
    assert.ok(Math.abs(d.df! - 6.25 / 1.0625) < 1e-12);
    assert.ok(Math.abs(d.se! - Math.sqrt(2.5)) < 1e-12);
    const half = tQuantile(0.975, 6.25 / 1.0625) * Math.sqrt(2.5);
    assert.ok(Math.abs(d.lo! - (3 - half)) < 1e-12 && Math.abs(d.hi! - (3 + half)) < 1e-12);
    assert.ok(half > 2.306 * Math.sqrt(2.5), 'fewer degrees of freedom than the pooled 8 widen the interval');
  });
  test('equal variances and sizes give the pooled df n_a + n_b − 2', () => {
    const d = welchInterval({ mean: 1, std: 2, n: 5 }, { mean: 0, std: 2, n: 5 });
    assert.ok(Math.abs(d.df! - 8) < 1e-12);
    assert.ok(Math.abs(d.hi! - (1 + 2.306 * Math.sqrt(8 / 5))) < 1e-3);
  });
  test('a side with one seed has no interval', () => {
    const d = welchInterval({ mean: 1, std: 0, n: 1 }, { mean: 0, std: 1, n: 5 });
    assert.deepEqual([d.lo, d.hi, d.df], [null, null, null]);
  });
});

describe('verdict rule', () => {
  const iv = (lo: number, hi: number) => ({ diff: (lo + hi) / 2, lo, hi, df: 8, se: 1 });
  test('reproduced, contradicted, inconclusive, no data', () => {
    assert.equal(verdictOf(iv(0.2, 1), null, 1), 'reproduced');
    assert.equal(verdictOf(iv(-1, -0.2), null, 1), 'contradicted');
    assert.equal(verdictOf(iv(-0.1, 1), null, 1), 'inconclusive');
    assert.equal(verdictOf(iv(-1, -0.2), null, -1), 'reproduced');
    assert.equal(verdictOf({ diff: 1, lo: null, hi: null, df: null, se: null }, null, 1), 'inconclusive');
    assert.equal(verdictOf(null, null, 1), 'no data');
  });
  test('C2–C4: significantly worse than stage contradicts, a tie with stage does not', () => {
    assert.equal(verdictOf(iv(0.2, 1), iv(-2, -0.5), 1), 'contradicted');
    assert.equal(verdictOf(iv(0.2, 1), iv(-0.5, 0.3), 1), 'reproduced');
    assert.equal(verdictOf(iv(-0.2, 1), iv(-2, -0.5), 1), 'contradicted');
  });
  test('the summary line counts each verdict', () => {
    const counts = {} as Record<ClaimId, Record<Verdict, number>>;
    for (const c of CLAIMS) counts[c.id] = { reproduced: 0, contradicted: 0, inconclusive: 0, 'no data': 0 };
    counts.C1 = { reproduced: 7, contradicted: 1, inconclusive: 1, 'no data': 0 };
    assert.match(summaryText(counts), /^C1 reproduced in 7 of 9 rows \(contradicted 1, inconclusive 1\); C2 reproduced in 0 of 0 rows;/);
  });
});

test("a study that ran none of a claim's modes says so instead of an empty summary", () => {
  const counts = {} as Record<ClaimId, Record<Verdict, number>>;
  for (const c of CLAIMS) counts[c.id] = { reproduced: 0, contradicted: 0, inconclusive: 0, 'no data': 0 };
  assert.equal(summaryText(counts, []), 'no claim to check (none of stage, online, offline, offline-reg was run)');
  assert.equal(
    summaryText(
      counts,
      CLAIMS.filter((c) => c.id === 'C2'),
    ),
    'C2 reproduced in 0 of 0 rows',
  );
});
