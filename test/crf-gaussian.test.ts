import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  applyPotts,
  CgError,
  loss,
  marginals,
  normalizeEmbeddings,
  offlineNormalizeGaussian,
  pairwiseNorm,
  predict,
  sigmaMax2,
  solve,
  symmetricEigen,
  type CgStats,
} from '../src/crf/gaussian.js';
import { CG_ASSUMED_CONDITION, conjugateGradient, float32PrecisionFloor } from '../src/crf/cg.js';
import { norm } from '../src/crf/scaling.js';
import { Rng } from '../src/util/rng.js';
import { describeOnBackends, maxAbsDiff } from './helpers.js';

// ------------------------------------------------------------------------------------------------
// float64 reference: dense W + λI, Gaussian elimination.

type Mat = number[][];
/** A number or nested arrays of numbers (random tensors in float64). */
type Nested = number | Nested[];

function randn(rng: Rng, ...shape: number[]): Nested {
  if (shape.length === 0) return rng.normal();
  return Array.from({ length: shape[0] }, () => randn(rng, ...shape.slice(1)));
}

/** Dense (W + λI) for the Potts W = [[0, AAᵀ], [AAᵀ, 0]] over the pixels where mask = 1. */
function denseSystem(A: Mat, lambda: number): Mat {
  const L = A.length;
  const M: Mat = Array.from({ length: 2 * L }, () => new Array(2 * L).fill(0));
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      let k = 0;
      for (let d = 0; d < A[i].length; d++) k += A[i][d] * A[j][d];
      M[i][L + j] = k;
      M[L + i][j] = k;
    }
  }
  for (let i = 0; i < 2 * L; i++) M[i][i] += lambda;
  return M;
}

function gaussSolve(M: Mat, b: number[]): number[] {
  const n = b.length;
  const a = M.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = c + 1; r < n; r++) {
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= n; k++) a[r][k] -= f * a[c][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r][n];
    for (let k = r + 1; k < n; k++) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return x;
}

/** s* for one example: U [2][L], A [L][D] → [2][L]. */
function denseS(U: Mat, A: Mat, lambda: number): Mat {
  const L = A.length;
  const x = gaussSolve(denseSystem(A, lambda), [...U[0], ...U[1]]);
  return [x.slice(0, L), x.slice(L)];
}

/** σ_max(A)² in float64 by many power iterations on AᵀA. */
function sigma2Ref(A: Mat): number {
  const D = A[0].length;
  let v = Array.from({ length: D }, (_, i) => 1 + i * 0.1);
  let mu = 0;
  for (let it = 0; it < 2000; it++) {
    const Av = A.map((row) => row.reduce((s, x, d) => s + x * v[d], 0));
    const w = Array.from({ length: D }, (_, d) => A.reduce((s, row, i) => s + row[d] * Av[i], 0));
    const n = Math.hypot(...w);
    mu = n / Math.hypot(...v);
    v = w.map((x) => x / n);
  }
  return mu;
}

function scale(A: Mat, c: number): Mat {
  return A.map((r) => r.map((x) => x * c));
}

/** A [L][D] with σ_max(A)² = target exactly. */
function embeddingsWithSigma2(rng: Rng, L: number, D: number, target: number): Mat {
  const A = randn(rng, L, D) as Mat;
  return scale(A, Math.sqrt(target / sigma2Ref(A)));
}

function maxAbs(a: number[]): number {
  return a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}
function flat(x: Nested): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x];
}

/** Central finite differences of f at every entry of the nested array x (float64). */
function fdGrad(f: () => number, x: Mat[], h = 1e-5): number[] {
  const out: number[] = [];
  for (const m of x) {
    for (const row of m) {
      for (let j = 0; j < row.length; j++) {
        const x0 = row[j];
        row[j] = x0 + h;
        const fp = f();
        row[j] = x0 - h;
        const fm = f();
        row[j] = x0;
        out.push((fp - fm) / (2 * h));
      }
    }
  }
  return out;
}

function assertClose(actual: number[], expected: number[], relTol: number, what: string): void {
  const scaleRef = Math.max(maxAbs(expected), 1e-12);
  const err = maxAbsDiff(actual, expected) / scaleRef;
  assert.ok(err <= relTol, `${what}: relative error ${err.toExponential(2)} > ${relTol}`);
}

/** Per-image mean cross-entropy of softmax(s*) over the valid pixels, float64. */
function denseCE(U: Mat[], A: Mat[], labels: number[][], mask: number[][], lambda: number): number[] {
  return U.map((Ub, b) => {
    const valid = mask[b].map((m, j) => (m === 1 ? j : -1)).filter((j) => j >= 0);
    const Uv = [valid.map((j) => Ub[0][j]), valid.map((j) => Ub[1][j])];
    const Av = valid.map((j) => A[b][j]);
    if (valid.length === 0) return 0;
    const s = denseS(Uv, Av, lambda);
    let sum = 0;
    valid.forEach((j, k) => {
      const lse = Math.log(Math.exp(s[0][k]) + Math.exp(s[1][k]));
      sum += lse - s[labels[b][j]][k];
    });
    return sum / valid.length;
  });
}

// ------------------------------------------------------------------------------------------------

describeOnBackends('gaussian CRF', () => {
  describe('gaussian CRF: forward solve', () => {
    it('s* matches a dense float64 solve (several B, L, D) and reports its true residual', () => {
      const rng = new Rng('forward');
      for (const [B, L, D, lambda] of [
        [1, 6, 2, 1],
        [2, 13, 3, 0.7],
        [3, 20, 4, 2.5],
      ]) {
        const U = randn(rng, B, 2, L) as Mat[];
        const A = Array.from({ length: B }, (_, b) => embeddingsWithSigma2(rng, L, D, lambda * [0.3, 0.6, 0.85][b % 3]));
        const u = tf.tensor3d(U);
        const a = tf.tensor3d(A);
        const r = solve(u, a, lambda, { tolerance: 1e-6 });
        const expected = U.flatMap((Ub, b) => flat(denseS(Ub, A[b], lambda)));
        assertClose(Array.from(r.s.dataSync()), expected, 2e-5, `s* (B=${B}, L=${L}, D=${D})`);
        assert.ok(r.residual <= 1e-6, `residual ${r.residual}`);
        assert.ok(r.iterations >= 1 && r.iterations < 100, `iterations ${r.iterations}`);
        // The reported residual is the true one: recompute ‖U − (W + λI)s‖/‖U‖.
        const res = tf.tidy(() => tf.sub(u, applyPotts(r.s, a, lambda)).arraySync()) as Mat[];
        for (let b = 0; b < B; b++) {
          const rel = Math.hypot(...flat(res[b])) / Math.hypot(...flat(U[b]));
          assert.ok(rel <= 2e-6, `true residual ${rel}`);
        }
        tf.dispose([u, a, r.s]);
      }
    });

    it('a batch gives the same s* per example as each example alone (converged examples freeze)', () => {
      const rng = new Rng('batch');
      const L = 10;
      const U = randn(rng, 2, 2, L) as Mat[];
      // Very different conditioning: the first converges in a few steps, the second needs more.
      const A = [embeddingsWithSigma2(rng, L, 3, 0.05), embeddingsWithSigma2(rng, L, 3, 0.9)];
      const all = solve(tf.tensor3d(U), tf.tensor3d(A), 1, { tolerance: 1e-6 });
      const allS = all.s.arraySync();
      for (let b = 0; b < 2; b++) {
        const one = solve(tf.tensor3d([U[b]]), tf.tensor3d([A[b]]), 1, { tolerance: 1e-6 });
        assertClose(flat(allS[b]), flat(one.s.arraySync()[0]), 1e-5, `example ${b}`);
      }
    });

    it('the PD check takes the exact path when ‖A‖_F² ≥ λ > σ_max²', () => {
      const rng = new Rng('exact-path');
      const A = embeddingsWithSigma2(rng, 12, 4, 0.8); // ‖A‖_F² > 0.8 λ·… typically > λ = 1
      const frob2 = flat(A).reduce((s, x) => s + x * x, 0);
      assert.ok(frob2 >= 1, `test setup: ‖A‖_F² = ${frob2} should exceed λ = 1`);
      const r = solve(tf.tensor3d([randn(rng, 2, 12) as Mat]), tf.tensor3d([A]), 1);
      assert.ok(Math.abs(r.sigmaMax2Bound - 0.8) < 1e-4, `sigmaMax2Bound ${r.sigmaMax2Bound} should be the exact σ² = 0.8`);
      // Without need for the exact path the bound is the Frobenius bound.
      const r2 = solve(tf.tensor3d([randn(rng, 2, 12) as Mat]), tf.tensor3d([A]), 2 * frob2);
      assert.ok(Math.abs(r2.sigmaMax2Bound - frob2) < 1e-4 * frob2, `bound ${r2.sigmaMax2Bound} vs ‖A‖_F² ${frob2}`);
    });

    it('symmetricEigen and sigmaMax2 agree with float64 references', () => {
      const { values, vectors } = symmetricEigen([2, 1, 0, 1, 2, 0, 0, 0, 5], 3);
      assert.deepEqual(
        Array.from(values)
          .map((v) => Math.round(v * 1e10) / 1e10)
          .sort(),
        [1, 3, 5],
      );
      // Columns are eigenvectors: M v = μ v.
      const M = [
        [2, 1, 0],
        [1, 2, 0],
        [0, 0, 5],
      ];
      for (let j = 0; j < 3; j++) {
        const v = [0, 1, 2].map((i) => vectors[i * 3 + j]);
        const Mv = M.map((row) => row.reduce((s, x, k) => s + x * v[k], 0));
        assert.ok(
          maxAbsDiff(
            Mv,
            v.map((x) => x * values[j]),
          ) < 1e-12,
        );
      }
      const rng = new Rng('eig');
      const A = [randn(rng, 9, 5) as Mat, randn(rng, 9, 5) as Mat];
      const got = sigmaMax2(tf.tensor3d(A));
      A.forEach((Ab, b) => assert.ok(Math.abs(got[b] - sigma2Ref(Ab)) <= 1e-5 * sigma2Ref(Ab)));
    });

    it('marginals are the softmax over classes and predict is the argmax', () => {
      const s = tf.tensor3d([
        [
          [0, 2, -1],
          [1, 2, 3],
        ],
      ]);
      const p = marginals(s).arraySync()[0];
      const e = (a: number, b: number) => Math.exp(a) / (Math.exp(a) + Math.exp(b));
      assertClose([...p[0], ...p[1]], [e(0, 1), 0.5, e(-1, 3), e(1, 0), 0.5, e(3, -1)], 1e-6, 'marginals');
      assert.deepEqual(
        predict(
          tf.tensor3d([
            [
              [0, 2, -1],
              [1, 1, 3],
            ],
          ]),
        ).arraySync(),
        [[1, 0, 1]],
      );
      assert.equal(predict(s).dtype, 'int32');
    });
  });

  describe('gaussian CRF: gradients against float64 finite differences', () => {
    it('∂(Σ c·s*)/∂U and ∂/∂A', () => {
      const rng = new Rng('grad-linear');
      const B = 2;
      const L = 7;
      const D = 3;
      const lambda = 1.3;
      const U = randn(rng, B, 2, L) as Mat[];
      const A = [embeddingsWithSigma2(rng, L, D, 0.6 * lambda), embeddingsWithSigma2(rng, L, D, 0.4 * lambda)];
      const C = randn(rng, B, 2, L) as Mat[];
      const f = (): number => U.reduce((acc, Ub, b) => acc + flat(denseS(Ub, A[b], lambda)).reduce((s, x, i) => s + x * flat(C[b])[i], 0), 0);
      const fdU = fdGrad(f, U);
      const fdA = fdGrad(f, A);
      const backward: CgStats[] = [];
      const c = tf.tensor3d(C);
      const [gU, gA] = tf.grads((u: tf.Tensor, a: tf.Tensor) =>
        tf.sum(tf.mul(c, solve(u as tf.Tensor3D, a as tf.Tensor3D, lambda, { tolerance: 1e-6, onBackward: (st) => backward.push(st) }).s)),
      )([tf.tensor3d(U), tf.tensor3d(A)]);
      assertClose(Array.from(gU.dataSync()), fdU, 1e-4, '∂/∂U');
      assertClose(Array.from(gA.dataSync()), fdA, 1e-4, '∂/∂A');
      assert.equal(backward.length, 1);
      assert.ok(backward[0].residual <= 1e-6 && backward[0].iterations >= 1);
    });

    it('the cross-entropy loss (with a mask) and its gradients', () => {
      const rng = new Rng('grad-ce');
      const B = 2;
      const L = 9;
      const D = 2;
      const lambda = 0.8;
      const U = randn(rng, B, 2, L) as Mat[];
      const A = [embeddingsWithSigma2(rng, L, D, 0.7 * lambda), embeddingsWithSigma2(rng, L, D, 0.5 * lambda)];
      const labels = Array.from({ length: B }, () => Array.from({ length: L }, () => rng.int(2)));
      const mask = [Array(L).fill(1), [1, 1, 1, 1, 1, 1, 0, 0, 0]];
      labels[1][7] = 255; // "void" label on a padded pixel: ignored
      const ref = denseCE(U, A, labels, mask, lambda);
      const lossT = loss(tf.tensor3d(U), tf.tensor3d(A), labels, lambda, { mask, tolerance: 1e-6 });
      assert.deepEqual(lossT.shape, [B]);
      assertClose(Array.from(lossT.dataSync()), ref, 1e-5, 'loss value');

      const f = (): number => denseCE(U, A, labels, mask, lambda).reduce((s, x) => s + x, 0) / B;
      const fdU = fdGrad(f, U);
      const fdA = fdGrad(f, A);
      const [gU, gA] = tf.grads((u: tf.Tensor, a: tf.Tensor) => tf.mean(loss(u as tf.Tensor3D, a as tf.Tensor3D, labels, lambda, { mask, tolerance: 1e-6 })))([
        tf.tensor3d(U),
        tf.tensor3d(A),
      ]);
      assertClose(Array.from(gU.dataSync()), fdU, 2e-4, '∂CE/∂U');
      assertClose(Array.from(gA.dataSync()), fdA, 2e-4, '∂CE/∂A');
      // Padded pixels get no gradient.
      const gUa = gU.arraySync() as Mat[];
      const gAa = gA.arraySync() as Mat[];
      for (let j = 6; j < L; j++) {
        assert.ok(
          [gUa[1][0][j], gUa[1][1][j], ...gAa[1][j]].every((x) => x === 0),
          `pixel ${j}`,
        );
      }
    });
  });

  describe('gaussian CRF: padding', () => {
    it('a padded image inside a batch gives the same s* and loss as the image alone', () => {
      const rng = new Rng('padding');
      const lambda = 1;
      const Lfull = 12;
      const Lsmall = 8;
      const small = { U: randn(rng, 2, Lsmall) as Mat, A: embeddingsWithSigma2(rng, Lsmall, 3, 0.6) };
      const big = { U: randn(rng, 2, Lfull) as Mat, A: embeddingsWithSigma2(rng, Lfull, 3, 0.6) };
      // Padding filled with garbage that must not matter.
      const padU = small.U.map((row) => [...row, ...Array.from({ length: Lfull - Lsmall }, () => 50 * rng.normal())]);
      const padA = [...small.A, ...Array.from({ length: Lfull - Lsmall }, () => [9, -9, 9])];
      const mask = [Array(Lfull).fill(1), [...Array(Lsmall).fill(1), ...Array(Lfull - Lsmall).fill(0)]];
      const batch = solve(tf.tensor3d([big.U, padU]), tf.tensor3d([big.A, padA]), lambda, { mask, tolerance: 1e-6 });
      const alone = solve(tf.tensor3d([small.U]), tf.tensor3d([small.A]), lambda, { tolerance: 1e-6 });
      const sb = batch.s.arraySync()[1];
      const sa = alone.s.arraySync()[0];
      assertClose([...sb[0].slice(0, Lsmall), ...sb[1].slice(0, Lsmall)], flat(sa), 1e-5, 'valid pixels');
      assert.deepEqual([...sb[0].slice(Lsmall), ...sb[1].slice(Lsmall)], Array(2 * (Lfull - Lsmall)).fill(0));

      const labelsSmall = Array.from({ length: Lsmall }, () => rng.int(2));
      const labelsBig = Array.from({ length: Lfull }, () => rng.int(2));
      const lb = loss(tf.tensor3d([big.U, padU]), tf.tensor3d([big.A, padA]), [labelsBig, [...labelsSmall, 0, 1, 0, 1]], lambda, {
        mask,
        tolerance: 1e-6,
      }).dataSync();
      const la = loss(tf.tensor3d([small.U]), tf.tensor3d([small.A]), [labelsSmall], lambda, { tolerance: 1e-6 }).dataSync();
      assert.ok(Math.abs(lb[1] - la[0]) < 1e-5, `${lb[1]} vs ${la[0]}`);
    });

    it('an image with no valid pixel has loss 0', () => {
      const l = loss(tf.ones([1, 2, 4]) as tf.Tensor3D, tf.ones([1, 4, 2]) as tf.Tensor3D, [[0, 1, 0, 1]], 1, { mask: [[0, 0, 0, 0]] });
      assert.deepEqual(Array.from(l.dataSync()), [0]);
    });
  });

  describe('gaussian CRF: failure is loud', () => {
    it('non-convergence within maxIterations throws with the numbers', () => {
      const rng = new Rng('noconv');
      const A = embeddingsWithSigma2(rng, 15, 3, 0.95);
      const before = tf.memory().numTensors;
      assert.throws(
        () => solve(tf.tensor3d([randn(rng, 2, 15) as Mat]), tf.tensor3d([A]), 1, { maxIterations: 2, tolerance: 1e-7 }),
        (e: unknown) => {
          assert.ok(e instanceof CgError);
          assert.equal(e.failure, 'max-iterations');
          assert.equal(e.iterations, 2);
          assert.ok(e.residual > 1e-7);
          assert.match(
            e.message,
            /forward solve did not converge: after 2 iterations \(maxIterations = 2\) the relative residual is [\d.e+-]+ > tolerance 1e-7; lambda = 1, σ_max\(A\)² ≤ 0\.95/,
          );
          assert.match(e.message, /Raise maxIterations or tolerance/);
          return true;
        },
      );
      assert.equal(tf.memory().numTensors, before + 2, 'only the two input tensors created by the test remain');
    });

    it('λ ≤ σ_max(A)² is refused; normalizeEmbeddings makes it positive definite', () => {
      const rng = new Rng('pd');
      const L = 10;
      const A = [embeddingsWithSigma2(rng, L, 3, 0.5), embeddingsWithSigma2(rng, L, 3, 2.5)];
      const U = randn(rng, 2, 2, L) as Mat[];
      assert.throws(
        () => solve(tf.tensor3d(U), tf.tensor3d(A), 1),
        /W \+ λI is not positive definite for batch element 1: lambda = 1 but σ_max\(A\)² = 2\.5 .*Raise lambda above 2\.5, or rescale the embeddings, e\.g\. normalizeEmbeddings/,
      );
      for (const bound of ['frobenius', 'spectral'] as const) {
        const An = normalizeEmbeddings(tf.tensor3d(A), 1, { margin: 0.5, bound });
        const s2 = sigmaMax2(An);
        assert.ok(
          s2.every((v) => v <= 0.5 + 1e-5),
          `${bound}: σ² = ${s2}`,
        );
        if (bound === 'spectral') {
          assert.ok(Math.abs(s2[1] - 0.5) < 1e-5, 'spectral: the too-large example is scaled to exactly the margin');
          assertClose(flat(An.arraySync()[0]), flat(A[0]), 1e-6, 'spectral: the example within the margin is unchanged');
        }
        const r = solve(tf.tensor3d(U), An, 1, { tolerance: 1e-6 });
        assert.ok(r.iterations > 0 && r.residual <= 1e-6);
      }
    });

    it('normalizeEmbeddings (spectral) has the gradient of A·min(1, √(mλ/σ_max(A)²))', () => {
      const rng = new Rng('norm-grad');
      const A = [embeddingsWithSigma2(rng, 6, 3, 3)];
      const C = randn(rng, 1, 6, 3) as Mat[];
      const m = 0.5;
      const lambda = 1;
      const f = (): number => {
        const c = Math.min(1, Math.sqrt((m * lambda) / sigma2Ref(A[0])));
        return flat(A).reduce((s, x, i) => s + c * x * flat(C)[i], 0);
      };
      const fd = fdGrad(f, A, 1e-6);
      for (const bound of ['spectral'] as const) {
        const c = tf.tensor3d(C);
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(c, normalizeEmbeddings(a as tf.Tensor3D, lambda, { margin: m, bound }))))(tf.tensor3d(A));
        assertClose(Array.from(g.dataSync()), fd, 1e-4, bound);
      }
    });

    it('bad input names the argument and the expected shape', () => {
      const U = tf.zeros([1, 2, 4]) as tf.Tensor3D;
      const A = tf.zeros([1, 4, 2]) as tf.Tensor3D;
      assert.throws(() => solve(tf.zeros([1, 3, 4]) as tf.Tensor3D, A, 1), /unary must have shape \[B, M=2, L\].*got M = 3/);
      assert.throws(() => solve(tf.zeros([2, 4]) as unknown as tf.Tensor3D, A, 1), /unary must be a float32 tensor of shape \[B, M=2, L\], got \[2, 4\]/);
      assert.throws(() => solve(U, tf.zeros([1, 5, 2]) as tf.Tensor3D, 1), /embeddings must have shape \[B=1, L=4, D>=1\].*got \[1, 5, 2\]/);
      assert.throws(() => solve(U, A, 0), /lambda must be a finite number > 0/);
      assert.throws(() => solve(U, A, NaN), /lambda must be a finite number > 0/);
      assert.throws(
        () =>
          solve(
            tf.tensor3d([
              [
                [0, NaN, 0, 0],
                [0, 0, 0, 0],
              ],
            ]),
            A,
            1,
          ),
        /unary of batch element 0 contains non-finite values/,
      );
      assert.throws(
        () =>
          solve(
            U,
            tf.tensor3d([
              [
                [0, 0],
                [Infinity, 0],
                [0, 0],
                [0, 0],
              ],
            ]),
            1,
          ),
        /embeddings of batch element 0 contain non-finite values/,
      );
      assert.throws(() => solve(U, A, 1, { mask: [[1, 1, 1]] }), /mask must have shape \[B=1, L=4\], got \[1, 3\]/);
      assert.throws(() => solve(U, A, 1, { mask: [[1, 0.5, 1, 1]] }), /mask must contain only 0 \(padding\) and 1/);
      assert.throws(() => solve(U, A, 1, { tolerance: 0 }), /tolerance must be a finite number > 0/);
      assert.throws(() => solve(U, A, 1, { maxIterations: 0.5 }), /maxIterations must be an integer >= 1/);
      assert.throws(() => loss(U, A, [[0, 1, 2, 0]], 1), /labels must be class indices 0 or 1 on valid pixels; 1 valid pixels/);
      assert.throws(() => loss(U, A, [[0, 1, 0]], 1), /labels must have shape \[B=1, L=4\], got \[1, 3\]/);
      assert.throws(() => loss(U, A, tf.zeros([1, 4]) as tf.Tensor2D, 1), /labels must be an int32 tensor/);
      assert.throws(() => pairwiseNorm(A, 'spectral' as never), /kind must be one of frobenius, rms, max/);
      assert.throws(() => normalizeEmbeddings(A, 1, { margin: 1 }), /margin must be in \(0, 1\)/);
    });
  });

  describe('gaussian CRF: a tolerance float32 cannot reach', () => {
    /** ∂(mean_b CE_b)/∂U in float64: g = (W + λI)^{-1} ∂L/∂s*, with ∂L/∂s* = (softmax(s*) − onehot(y)) / (L·B). */
    function denseCEGradU(U: Mat[], A: Mat[], labels: number[][], lambda: number): number[] {
      const B = U.length;
      return U.flatMap((Ub, b) => {
        const L = A[b].length;
        const s = denseS(Ub, A[b], lambda);
        const dS = [0, 1].map((k) => s[k].map((_, j) => 1 / (1 + Math.exp(s[1 - k][j] - s[k][j])) - (labels[b][j] === k ? 1 : 0)).map((v) => v / (L * B)));
        const g = gaussSolve(denseSystem(A[b], lambda), [...dS[0], ...dS[1]]);
        return [...g.slice(0, L), ...g.slice(L)];
      });
    }

    /** A solve's statistics are consistent: at most the float32 floor, clamped and flagged exactly when above the requested tolerance. */
    function assertHonest(st: CgStats, requested: number, floor: number, what: string): void {
      assert.ok(st.residual <= floor, `${what}: residual ${st.residual} above the float32 floor ${floor}`);
      assert.equal(st.precisionLimited, st.residual > requested, `${what}: precisionLimited must say whether the residual ${st.residual} exceeds ${requested}`);
      assert.equal(st.tolerance, Math.max(requested, st.residual), `${what}: the clamped tolerance`);
    }

    it('λ = 12, σ_max(A)² = 10, tolerance 1e-7, maxIterations 1000: both solves stop at the float32 floor with the right gradient', () => {
      // cond(W + λI) ≤ 22/2 = 11. These draws made the old solver run to 1000 iterations and throw on
      // the cpu and the wasm back ends; now each solve stops after a few stalled residual replacements.
      const rng = new Rng('tolerance-below-float32');
      const lambda = 12;
      const floor = float32PrecisionFloor(11);
      for (const [B, L, D, uStd] of [
        [1, 16, 2, 1],
        [1, 16, 2, 30],
        [2, 40, 4, 30],
        [2, 40, 4, 300],
        [1, 64, 8, 3],
      ]) {
        const at = `B=${B} L=${L} D=${D} |U|~${uStd}`;
        const U = (randn(rng, B, 2, L) as Mat[]).map((Ub) => scale(Ub, uStd));
        const A = Array.from({ length: B }, () => embeddingsWithSigma2(rng, L, D, 10));
        const labels = Array.from({ length: B }, () => Array.from({ length: L }, () => rng.int(2)));
        const stats: CgStats[] = [];
        const options = { tolerance: 1e-7, maxIterations: 1000, onForward: (st: CgStats) => stats.push(st), onBackward: (st: CgStats) => stats.push(st) };
        const [u, a] = [tf.tensor3d(U), tf.tensor3d(A)];
        const before = tf.memory().numTensors;
        const [gU, gA] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.mean(loss(x as tf.Tensor3D, y as tf.Tensor3D, labels, lambda, options)))([u, a]);
        assert.equal(stats.length, 2, `${at}: one forward and one backward solve`);
        assertClose(Array.from(gU.dataSync()), denseCEGradU(U, A, labels, lambda), 1e-4, `${at}: ∂CE/∂U`);
        stats.forEach((st, i) => {
          assert.ok(st.iterations < 200, `${at}: solve ${i} took ${st.iterations} iterations`);
          assertHonest(st, 1e-7, floor, `${at}: solve ${i}`);
        });
        assert.ok(Array.from(gA.dataSync()).every(Number.isFinite), `${at}: ∂CE/∂A finite`);
        tf.dispose([gU, gA]);
        assert.equal(tf.memory().numTensors, before, `${at}: no tensor leaks`);
        tf.dispose([u, a]);
      }
    });

    it('a tolerance far below float32 (1e-10) is clamped to the residual reached, forward and backward, at the best iterate', () => {
      const rng = new Rng('tolerance-1e-10');
      const L = 12;
      const lambda = 1;
      const U = randn(rng, 2, 2, L) as Mat[];
      const A = [embeddingsWithSigma2(rng, L, 3, 0.6), embeddingsWithSigma2(rng, L, 3, 0.3)]; // cond ≤ 4
      const C = randn(rng, 2, 2, L) as Mat[];
      const floor = float32PrecisionFloor(4);
      const backward: CgStats[] = [];
      const opts = { tolerance: 1e-10, maxIterations: 1000, onBackward: (st: CgStats) => backward.push(st) };
      const r = solve(tf.tensor3d(U), tf.tensor3d(A), lambda, opts);
      assert.ok(r.precisionLimited && r.iterations < 100, `forward: ${JSON.stringify(r)}`);
      assertHonest(r, 1e-10, floor, 'forward');
      assertClose(
        Array.from(r.s.dataSync()),
        U.flatMap((Ub, b) => flat(denseS(Ub, A[b], lambda))),
        2e-6,
        's*',
      );
      const c = tf.tensor3d(C);
      const gU = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(c, solve(u as tf.Tensor3D, tf.tensor3d(A), lambda, opts).s)))(tf.tensor3d(U));
      assert.ok(backward[0].precisionLimited && backward[0].iterations < 100, `backward: ${JSON.stringify(backward[0])}`);
      assertHonest(backward[0], 1e-10, floor, 'backward');
      // ∂(Σ c·s*)/∂U = (W + λI)^{-1} c (W + λI is symmetric).
      assertClose(
        Array.from(gU.dataSync()),
        C.flatMap((Cb, b) => flat(denseS(Cb, A[b], lambda))),
        2e-6,
        '∂/∂U',
      );
    });

    it('an operator whose own error keeps the residual above the float32 floor fails fast as stagnated, leaking nothing', () => {
      // Each product carries fresh noise of relative size 1e-3: no iterate gets much below that, so
      // the replacements stall far above the floor (7.6e-6 at the assumed cond 4).
      const rng = new Rng('noisy-operator');
      const rhs = tf.tensor2d(randn(rng, 2, 50) as Mat);
      let calls = 0;
      const noisy = (x: tf.Tensor): tf.Tensor => tf.add(tf.mul(x, 2), tf.mul(tf.randomNormal(x.shape, 0, 1, 'float32', ++calls), tf.mul(tf.norm(x), 1e-3)));
      const before = tf.memory().numTensors;
      assert.throws(
        () => conjugateGradient(noisy, rhs, { tolerance: 1e-6, maxIterations: 1000 }),
        (e: unknown) => {
          assert.ok(e instanceof CgError, String(e));
          assert.equal(e.failure, 'stagnated', e.message);
          assert.ok(e.iterations < 100, `stopped after ${e.iterations} iterations`);
          assert.ok(e.residual > float32PrecisionFloor(CG_ASSUMED_CONDITION) && e.residual < 1e-1, `residual ${e.residual}`);
          assert.match(
            e.message,
            /stagnated: after \d+ iterations and \d+ residual replacements the best relative residual is [\d.e+-]+ > tolerance 1\.000e-6, above the float32 floor/,
          );
          return true;
        },
      );
      assert.equal(tf.memory().numTensors, before, 'a failed solve leaks nothing');
    });

    it('right-hand sides near the ends of the float32 range are solved, with a true residual', () => {
      // ‖rhs‖² underflows float32 at 1e-30 (the old solver returned s* = 0 with "residual 0") and
      // overflows at 1e20 (it stopped on pᵀAp = Infinity); each system is scaled by a power of two.
      const rng = new Rng('extreme-rhs');
      const L = 10;
      const lambda = 1;
      const U = randn(rng, 2, 2, L) as Mat[];
      const A = [embeddingsWithSigma2(rng, L, 3, 0.5), embeddingsWithSigma2(rng, L, 3, 0.5)];
      const dense = U.map((Ub, b) => flat(denseS(Ub, A[b], lambda)));
      const check = (got: number[][], factors: number[], residual: number, what: string): void => {
        assert.ok(residual > 0 && residual <= 1e-6, `${what}: residual ${residual}`);
        got.forEach((g, b) =>
          assertClose(
            g.map((v) => v / factors[b]),
            dense[b],
            2e-6,
            `${what} at scale ${factors[b]}`,
          ),
        );
      };
      // Forward: the unaries are checked to stay below ~1e19, so a tiny one next to an ordinary one.
      const forward = [1e-30, 1];
      const r = solve(tf.tensor3d(U.map((Ub, b) => scale(Ub, forward[b]))), tf.tensor3d(A), lambda, { tolerance: 1e-6 });
      assert.ok(!r.precisionLimited);
      check(r.s.arraySync().map(flat), forward, r.residual, 's*');
      // Backward: ∂(Σ c·s*)/∂U = (W + λI)^{-1} c, for an upstream gradient c that is tiny in one image and huge in the other.
      const backwardScale = [1e-30, 1e20];
      const c = tf.tensor3d(U.map((Ub, b) => scale(Ub, backwardScale[b])));
      const backward: CgStats[] = [];
      const gU = tf.grad((u: tf.Tensor) =>
        tf.sum(tf.mul(c, solve(u as tf.Tensor3D, tf.tensor3d(A), lambda, { tolerance: 1e-6, onBackward: (st) => backward.push(st) }).s)),
      )(tf.tensor3d(U));
      check((gU.arraySync() as Mat[]).map(flat), backwardScale, backward[0].residual, '∂/∂U');
    });
  });

  describe('gaussian CRF: norms and offline scaling', () => {
    function denseNorms(A: Mat): { fro: number; rms: number; max: number } {
      const L = A.length;
      const W = denseSystem(A, 0);
      const entries = flat(W);
      const fro = Math.hypot(...entries);
      return { fro, rms: fro / (2 * L), max: maxAbs(entries) };
    }

    it('pairwiseNorm equals the norm of the dense W (per example, batch, masked)', () => {
      const rng = new Rng('pnorm');
      const A = [randn(rng, 7, 3) as Mat, randn(rng, 7, 3) as Mat];
      const mask = [Array(7).fill(1), [1, 1, 1, 1, 0, 0, 0]];
      const valid = [A[0], A[1].slice(0, 4)];
      const d = valid.map(denseNorms);
      const a = tf.tensor3d(A);
      const get = (kind: 'frobenius' | 'rms' | 'max', perExample: boolean) => Array.from(pairwiseNorm(a, kind, { mask, perExample }).dataSync());
      assertClose(
        get('frobenius', true),
        d.map((x) => x.fro),
        1e-6,
        'frobenius per example',
      );
      assertClose(
        get('rms', true),
        d.map((x) => x.rms),
        1e-6,
        'rms per example',
      );
      assertClose(
        get('max', true),
        d.map((x) => x.max),
        1e-6,
        'max per example',
      );
      assertClose(get('frobenius', false), [Math.hypot(d[0].fro, d[1].fro)], 1e-6, 'frobenius batch');
      assertClose(get('rms', false), [Math.sqrt((d[0].fro ** 2 + d[1].fro ** 2) / (4 * 49 + 4 * 16))], 1e-6, 'rms batch');
      assertClose(get('max', false), [Math.max(d[0].max, d[1].max)], 1e-6, 'max batch');
      // Without a mask every pixel counts.
      const full = denseNorms(A[1]);
      assertClose([Array.from(pairwiseNorm(a, 'rms', { perExample: true }).dataSync())[1]], [full.rms], 1e-6, 'rms unmasked');
    });

    it('offlineNormalizeGaussian gives ‖Û‖ = α and ‖W(Â)‖ = 1', () => {
      const rng = new Rng('offline-gauss');
      const U = tf.tensor3d(randn(rng, 2, 2, 6) as Mat[]);
      const A = tf.tensor3d([scale(randn(rng, 6, 3) as Mat, 3), randn(rng, 6, 3) as Mat]);
      const mask = [Array(6).fill(1), [1, 1, 1, 0, 0, 0]];
      for (const kind of ['frobenius', 'rms', 'max'] as const) {
        for (const over of ['example', 'batch'] as const) {
          const perExample = over === 'example';
          const r = offlineNormalizeGaussian(U, A, { alpha: 2.5, kind, over, mask });
          const nU = Array.from(norm(r.unary, kind, { mask: tf.tensor3d([[Array(6).fill(1)], [[1, 1, 1, 0, 0, 0]]]), perExample }).dataSync());
          const nW = Array.from(pairwiseNorm(r.embeddings, kind, { mask, perExample }).dataSync());
          assertClose(
            nU,
            nU.map(() => 2.5),
            1e-5,
            `‖Û‖ ${kind}/${over}`,
          );
          assertClose(
            nW,
            nW.map(() => 1),
            1e-5,
            `‖Ŵ‖ ${kind}/${over}`,
          );
        }
      }
    });
  });

  describe('gaussian CRF: memory', () => {
    it('no tensor leaks in solve, loss, gradients and the helpers', () => {
      const rng = new Rng('leaks');
      const L = 8;
      const U = tf.tensor3d(randn(rng, 2, 2, L) as Mat[]);
      const A = tf.tensor3d([embeddingsWithSigma2(rng, L, 3, 1.5), embeddingsWithSigma2(rng, L, 3, 0.2)]); // exact PD path at λ = 2
      const labels = tf.tensor2d([Array(L).fill(1), Array(L).fill(0)], undefined, 'int32');
      const mask = tf.tensor2d([Array(L).fill(1), [1, 1, 1, 1, 1, 0, 0, 0]]);
      // Warm up (tfjs may allocate lazily on first use).
      tf.dispose(solve(U, A, 2).s);
      const start = tf.memory().numTensors;

      tf.dispose(solve(U, A, 2, { mask }).s);
      assert.equal(tf.memory().numTensors, start, 'solve');
      const tiny = tf.mul(U, 1e-30) as tf.Tensor3D;
      const tinyStart = tf.memory().numTensors;
      tf.dispose(solve(tiny, A, 2).s);
      tf.dispose(solve(U, A, 2, { tolerance: 1e-10 }).s);
      assert.equal(tf.memory().numTensors, tinyStart, 'a rescaled and a precision-limited solve');
      tiny.dispose();
      tf.dispose(loss(U, A, labels, 2, { mask }));
      assert.equal(tf.memory().numTensors, start, 'loss');
      const grads = tf.grads((u: tf.Tensor, a: tf.Tensor) => tf.mean(loss(u as tf.Tensor3D, a as tf.Tensor3D, labels, 2, { mask })))([U, A]);
      tf.dispose(grads);
      assert.equal(tf.memory().numTensors, start, 'gradient of the loss');
      tf.dispose([
        pairwiseNorm(A, 'rms', { mask, perExample: true }),
        pairwiseNorm(A, 'max'),
        normalizeEmbeddings(A, 1, { bound: 'spectral', mask }),
        normalizeEmbeddings(A, 1),
      ]);
      const off = offlineNormalizeGaussian(U, A, { alpha: 1, kind: 'frobenius', over: 'example', mask });
      tf.dispose([off.unary, off.embeddings, marginals(U), predict(U)]);
      assert.equal(tf.memory().numTensors, start, 'helpers');
      assert.throws(() => solve(U, A, 1));
      assert.throws(() => solve(U, A, 2, { maxIterations: 1, tolerance: 1e-7 }));
      // An error inside tf.grads: tfjs itself strands the tensors that taped ops kept for backprop
      // before the throw (so a masked solve, whose masking ops are taped, leaks those few); the solve
      // validates and iterates untaped, so an unmasked failing solve strands nothing.
      assert.throws(() => tf.grads((u: tf.Tensor) => tf.sum(solve(u as tf.Tensor3D, A, 2, { maxIterations: 1, tolerance: 1e-7 }).s))([U]));
      assert.throws(() => tf.grads((u: tf.Tensor) => tf.sum(solve(u as tf.Tensor3D, A, 1).s))([U]));
      assert.equal(tf.memory().numTensors, start, 'errors');
    });
  });
});
