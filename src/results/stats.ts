import jstat from 'jstat';

/**
 * The statistics of sps's tables and report: a cell's mean and standard deviation over seeds, and
 * the interval behind the claims table (see docs/report.md, "How to read the claims").
 *
 * The difference of two cell means gets a 95 % Welch t interval: each cell's seeds are an
 * independent sample with its own variance, and the degrees of freedom come from the
 * Welch–Satterthwaite equation. The Student t quantile comes from jstat (a well-kept package),
 * so nothing here is a hand-written special function.
 */

export const STD_KIND = 'sample' as const;
export const STD_DESCRIPTION = 'sample standard deviation over seeds (n − 1 denominator); undefined (shown as —) when n = 1';

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 denominator), two-pass; null when fewer than 2 values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

export const CONFIDENCE = 0.95;

/** The p-quantile of Student's t distribution with `df` (> 0, not necessarily integer) degrees of freedom. */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must lie in (0, 1), got ${p}`);
  if (!(df > 0) || !Number.isFinite(df)) throw new RangeError(`tQuantile: df must be a positive finite number, got ${df}`);
  return jstat.jStat.studentt.inv(p, df);
}

/** Summary of one sample: its mean, sample standard deviation (n − 1) and size. */
export interface Summary {
  mean: number;
  std: number;
  n: number;
}

export interface DiffInterval {
  /** a.mean − b.mean. */
  diff: number;
  /** Interval bounds; null when a side has fewer than 2 values (no variance to estimate). */
  lo: number | null;
  hi: number | null;
  /** Welch–Satterthwaite degrees of freedom (null with no interval). */
  df: number | null;
  se: number | null;
}

/**
 * Welch's t interval for a.mean − b.mean at `level`:
 *   se² = s_a²/n_a + s_b²/n_b,
 *   df = se⁴ / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)),
 *   diff ± t_{(1+level)/2, df} · se.
 * When both variances are 0 the difference is exact (se = 0) and the interval is the point.
 */
export function welchInterval(a: Summary, b: Summary, level = CONFIDENCE): DiffInterval {
  const diff = a.mean - b.mean;
  if (a.n < 2 || b.n < 2) return { diff, lo: null, hi: null, df: null, se: null };
  const va = (a.std * a.std) / a.n;
  const vb = (b.std * b.std) / b.n;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { diff, lo: diff, hi: diff, df: a.n + b.n - 2, se: 0 };
  const df = (va + vb) ** 2 / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  const half = tQuantile((1 + level) / 2, df) * se;
  return { diff, lo: diff - half, hi: diff + half, df, se };
}
