/**
 * Plain-JS float64 reference for the linear-chain CRF: the oracle the tfjs code is tested against.
 *
 * Deliberately naive: brute-force enumeration of all K^L labellings (so it is only usable for
 * short chains, K^L up to ~1e5), plus a float64 forward–backward for long chains and a float64
 * mean-field iteration. One sequence at a time, no padding, no batching:
 *   unary    number[L][K]   U(x_i, k),
 *   pairwise number[K][K]   W(a, b) (label a followed by b),
 *   labels   number[L].
 *
 * Constraints (`allowed`): brute force enumerates the *allowed* labellings only (the exact
 * constrained model). The score of a given labelling — e.g. a gold labelling that uses a forbidden
 * transition — counts FORBIDDEN_SCORE for each forbidden transition, as the tfjs code does.
 */
import type { Objective } from './types.js';
import { FORBIDDEN_SCORE } from './validate.js';

export type Allowed = boolean[][] | number[][] | undefined;

const ok = (allowed: Allowed, a: number, b: number): boolean => allowed === undefined || Boolean(allowed[a][b]);

function logSumExp(xs: readonly number[]): number {
  const m = Math.max(...xs);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

function logSoftmax(xs: readonly number[]): number[] {
  const z = logSumExp(xs);
  return xs.map((x) => x - z);
}

/** The pairwise matrix with forbidden transitions replaced by FORBIDDEN_SCORE. */
export function refEffectivePairwise(pairwise: number[][], allowed?: Allowed): number[][] {
  return pairwise.map((row, a) => row.map((w, b) => (ok(allowed, a, b) ? w : FORBIDDEN_SCORE)));
}

/** All K^L labellings, lexicographically. */
export function* labellings(L: number, K: number): Generator<number[]> {
  const y = new Array<number>(L).fill(0);
  for (;;) {
    yield y.slice();
    let i = L - 1;
    while (i >= 0 && y[i] === K - 1) y[i--] = 0;
    if (i < 0) return;
    y[i]++;
  }
}

export function refIsAllowed(labels: readonly number[], allowed?: Allowed): boolean {
  for (let i = 0; i + 1 < labels.length; i++) if (!ok(allowed, labels[i], labels[i + 1])) return false;
  return true;
}

/** F(Y) = Σ_i U(x_i, y_i) + Σ_{i<L} W(y_i, y_{i+1}) (forbidden transitions score FORBIDDEN_SCORE). */
export function refScore(unary: number[][], pairwise: number[][], labels: readonly number[], allowed?: Allowed): number {
  const w = refEffectivePairwise(pairwise, allowed);
  let f = 0;
  for (let i = 0; i < labels.length; i++) f += unary[i][labels[i]] + (i > 0 ? w[labels[i - 1]][labels[i]] : 0);
  return f;
}

export function refHamming(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d / a.length;
}

/** Every allowed labelling with its score. */
export function refEnumerate(unary: number[][], pairwise: number[][], allowed?: Allowed): { labels: number[]; score: number }[] {
  const out: { labels: number[]; score: number }[] = [];
  for (const y of labellings(unary.length, pairwise.length)) if (refIsAllowed(y, allowed)) out.push({ labels: y, score: refScore(unary, pairwise, y) });
  return out;
}

/** log Z = log Σ_Y exp F(Y), by enumeration. */
export function refLogPartition(unary: number[][], pairwise: number[][], allowed?: Allowed): number {
  return logSumExp(refEnumerate(unary, pairwise, allowed).map((e) => e.score));
}

/** p_i(k) = Σ_{Y: y_i = k} P(Y), by enumeration: number[L][K]. */
export function refMarginals(unary: number[][], pairwise: number[][], allowed?: Allowed): number[][] {
  const all = refEnumerate(unary, pairwise, allowed);
  const logZ = logSumExp(all.map((e) => e.score));
  const m = unary.map((row) => row.map(() => 0));
  for (const { labels, score } of all) {
    const p = Math.exp(score - logZ);
    labels.forEach((y, i) => (m[i][y] += p));
  }
  return m;
}

export interface RefMap {
  labels: number[];
  score: number;
  /** F + Δ for loss-augmented decoding, = score otherwise. */
  augmentedScore: number;
  /** Gap to the second-best labelling's objective (how unique the maximiser is). */
  gap: number;
}

/** argmax_Y F(Y) (+ Δ(Y, gold) when `gold` is given), by enumeration. */
export function refMap(unary: number[][], pairwise: number[][], options: { allowed?: Allowed; gold?: readonly number[] } = {}): RefMap {
  let best: RefMap | undefined;
  let second = -Infinity;
  for (const { labels, score } of refEnumerate(unary, pairwise, options.allowed)) {
    const v = score + (options.gold ? refHamming(labels, options.gold) : 0);
    if (best === undefined || v > best.augmentedScore) {
      if (best) second = best.augmentedScore;
      best = { labels, score, augmentedScore: v, gap: 0 };
    } else if (v > second) second = v;
  }
  if (best === undefined) throw new Error('refMap: no allowed labelling');
  best.gap = best.augmentedScore - second;
  return best;
}

/**
 * Mean field with parity updates (even positions, then odd, per iteration), float64, starting from
 * q_i = softmax(U_i): q_i ∝ exp(U_i + q_{i−1}ᵀ W[:, ·] + W[·, :] q_{i+1}). Positions are updated
 * one at a time (sequential coordinate ascent), which on a chain equals the parity-parallel update.
 */
export function refMeanField(unary: number[][], pairwise: number[][], iterations: number, allowed?: Allowed): number[][] {
  return refMeanFieldLog(unary, pairwise, iterations, allowed).map((row) => row.map(Math.exp));
}

/** log q of {@link refMeanField}, as log-softmax (q itself can underflow to 0 under hard constraints). */
export function refMeanFieldLog(unary: number[][], pairwise: number[][], iterations: number, allowed?: Allowed): number[][] {
  const w = refEffectivePairwise(pairwise, allowed);
  const L = unary.length;
  const K = w.length;
  const logq = unary.map(logSoftmax);
  const q = logq.map((row) => row.map(Math.exp));
  for (let it = 0; it < iterations; it++) {
    for (const parity of [0, 1]) {
      for (let i = parity; i < L; i += 2) {
        const logits = unary[i].map((u, k) => {
          let s = u;
          for (let a = 0; a < K; a++) {
            if (i > 0) s += q[i - 1][a] * w[a][k];
            if (i + 1 < L) s += w[k][a] * q[i + 1][a];
          }
          return s;
        });
        logq[i] = logSoftmax(logits);
        q[i] = logq[i].map(Math.exp);
      }
    }
  }
  return logq;
}

/** The mean-field objective ELBO(q) = Σ q_iᵀU_i + Σ q_iᵀWq_{i+1} + Σ H(q_i) (≤ log Z). */
export function refMeanFieldElbo(unary: number[][], pairwise: number[][], q: number[][], allowed?: Allowed): number {
  const w = refEffectivePairwise(pairwise, allowed);
  const K = w.length;
  let e = 0;
  for (let i = 0; i < q.length; i++) {
    for (let k = 0; k < K; k++) {
      e += q[i][k] * unary[i][k];
      if (q[i][k] > 0) e -= q[i][k] * Math.log(q[i][k]);
      if (i + 1 < q.length) for (let b = 0; b < K; b++) e += q[i][k] * w[k][b] * q[i + 1][b];
    }
  }
  return e;
}

/** −(1/L) Σ_i log softmax(U_i)[y_i]. */
export function refUnaryCrossEntropy(unary: number[][], labels: readonly number[]): number {
  return -labels.reduce((s, y, i) => s + unary[i][y] - logSumExp(unary[i]), 0) / labels.length;
}

/** The four objectives of docs/model.md §2 for one sequence, by enumeration (mean field: by iteration). */
export function refLoss(
  objective: Objective,
  unary: number[][],
  pairwise: number[][],
  labels: readonly number[],
  options: { allowed?: Allowed; meanFieldIterations: number },
): number {
  const { allowed } = options;
  const L = labels.length;
  switch (objective) {
    case 'log-likelihood':
      return refLogPartition(unary, pairwise, allowed) - refScore(unary, pairwise, labels, allowed);
    case 'cross-entropy': {
      const m = refMarginals(unary, pairwise, allowed);
      return -labels.reduce((s, y, i) => s + Math.log(m[i][y]), 0) / L;
    }
    case 'ssvm':
      return refMap(unary, pairwise, { allowed, gold: labels }).augmentedScore - refScore(unary, pairwise, labels, allowed);
    case 'cross-entropy-mf': {
      const logq = refMeanFieldLog(unary, pairwise, options.meanFieldIterations, allowed);
      return -labels.reduce((s, y, i) => s + logq[i][y], 0) / L;
    }
  }
}

/**
 * Float64 forward–backward in log space (for chains too long to enumerate), with forbidden
 * transitions scored FORBIDDEN_SCORE like the tfjs code.
 */
export function refForwardBackward(unary: number[][], pairwise: number[][], allowed?: Allowed): { logZ: number; marginals: number[][] } {
  const w = refEffectivePairwise(pairwise, allowed);
  const L = unary.length;
  const K = w.length;
  const alpha: number[][] = [unary[0].slice()];
  for (let t = 1; t < L; t++) {
    alpha.push(unary[t].map((u, j) => u + logSumExp(alpha[t - 1].map((a, i) => a + w[i][j]))));
  }
  const beta: number[][] = new Array(L);
  beta[L - 1] = new Array<number>(K).fill(0);
  for (let t = L - 2; t >= 0; t--) {
    beta[t] = Array.from({ length: K }, (_, i) => logSumExp(beta[t + 1].map((b, j) => w[i][j] + unary[t + 1][j] + b)));
  }
  const logZ = logSumExp(alpha[L - 1]);
  return { logZ, marginals: alpha.map((a, t) => a.map((x, k) => Math.exp(x + beta[t][k] - logZ))) };
}
