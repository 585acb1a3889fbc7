import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { OBJECTIVES, type Objective } from '../src/core/constants.js';
import {
  CrfInputError,
  DEFAULT_MEAN_FIELD_ITERATIONS,
  decodeMarginals,
  logMarginals,
  logPartition,
  loss,
  lossAugmentedViterbi,
  marginals,
  meanFieldMarginals,
  score,
  unaryCrossEntropy,
  viterbi,
} from '../src/crf/chain.js';
import * as R from '../src/crf/reference.js';
import { logPartitionArrays } from '../src/crf/chain-logpartition.js';
import { Rng } from '../src/util/rng.js';
import { close, describeOnBackends } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Helpers.

type Mat = number[][];

const randMat = (rng: Rng, rows: number, cols: number, std = 1): Mat =>
  Array.from({ length: rows }, () => Array.from({ length: cols }, () => std * rng.normal()));
const randLabels = (rng: Rng, L: number, K: number): number[] => Array.from({ length: L }, () => rng.int(K));

/** Pads per-sequence unaries [L_b][K] into a [B, T, K] tensor, padding filled by `pad()`. */
function batch(seqs: Mat[], T: number, K: number, pad: () => number): tf.Tensor3D {
  return tf.tensor3d(seqs.map((u) => Array.from({ length: T }, (_, t) => (t < u.length ? u[t] : Array.from({ length: K }, pad)))));
}

const read1 = (t: tf.Tensor): number[] => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};
const read3 = (t: tf.Tensor3D): number[][][] => {
  const v = t.arraySync();
  t.dispose();
  return v;
};

const MF = DEFAULT_MEAN_FIELD_ITERATIONS;

/** ∂(Σ_b loss_b)/∂(U, W) by central differences on the reference, h = 1e-4 in float64. */
function fdGrad(f: (U: Mat[], W: Mat) => number, U: Mat[], W: Mat): { dU: Mat[]; dW: Mat } {
  const h = 1e-4;
  const d = (set: (v: number) => void, x: number): number => {
    set(x + h);
    const up = f(U, W);
    set(x - h);
    const down = f(U, W);
    set(x);
    return (up - down) / (2 * h);
  };
  const dU = U.map((Ub) => Ub.map((row) => row.map((x, k) => d((v) => (row[k] = v), x))));
  const dW = W.map((row) => row.map((x, k) => d((v) => (row[k] = v), x)));
  return { dU, dW };
}

/** What a gradient test differentiates: a loss of `loss`, the stage-1 unary loss, or log Z. */
type GradTarget = Objective | 'unary-cross-entropy' | 'log-partition';

interface GradCase {
  U: Mat[];
  W: Mat;
  Y: number[][];
  lengths: number[];
  T: number;
  allowed?: boolean[][];
  /** Fills the padding rows (t ≥ lengths[b]). */
  pad: () => number;
}

/** Σ_b of `target` on the float64 reference. */
function refTotal(target: GradTarget, U: Mat[], W: Mat, Y: number[][], allowed?: boolean[][]): number {
  return U.reduce((s, Ub, b) => {
    if (target === 'unary-cross-entropy') return s + R.refUnaryCrossEntropy(Ub, Y[b]);
    if (target === 'log-partition') return s + R.refLogPartition(Ub, W, allowed);
    return s + R.refLoss(target, Ub, W, Y[b], { allowed, meanFieldIterations: MF });
  }, 0);
}

/**
 * The tfjs ∂(Σ_b target_b)/∂(unary, pairwise) (the unary loss has no pairwise: its dW is 0); `fused`
 * false takes the tfjs-composed path on a back end with fused chain kernels.
 */
function tfGrads(target: GradTarget, u: tf.Tensor3D, w: tf.Tensor2D, Y: number[][], lengths: number[], allowed?: boolean[][], fused?: boolean): tf.Tensor[] {
  if (target === 'unary-cross-entropy') return [tf.grad((a: tf.Tensor) => tf.sum(unaryCrossEntropy(a as tf.Tensor3D, Y, lengths)))(u), tf.zerosLike(w)];
  const f = (a: tf.Tensor3D, b: tf.Tensor2D): tf.Tensor =>
    target === 'log-partition' ? logPartition(a, b, lengths, { allowed, fused }) : loss(target, a, b, Y, lengths, { allowed, fused });
  return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(f(a as tf.Tensor3D, b as tf.Tensor2D)))([u, w]);
}

/**
 * Every value the chain computes on a padded batch (log Z, marginals, log-marginals, F(Y), MAP,
 * loss-augmented MAP, the four losses, the unary loss, mean field) against the float64 reference,
 * sequence by sequence, and the padding rows of the marginal tensors exactly 0.
 */
function checkAgainstReference(c: GradCase, label: string): void {
  const { U, W, Y, lengths, T, allowed } = c;
  const K = W.length;
  const opts = { allowed };
  const u = batch(U, T, K, c.pad);
  const w = tf.tensor2d(W);
  const logZ = read1(logPartition(u, w, lengths, opts));
  const marg = read3(marginals(u, w, lengths, opts));
  const logm = read3(logMarginals(u, w, lengths, opts));
  const map = viterbi(u, w, lengths, opts);
  const aug = lossAugmentedViterbi(u, w, Y, lengths, opts);
  const scores = read1(score(u, w, Y, lengths, opts));
  const losses = Object.fromEntries(OBJECTIVES.map((o) => [o, read1(loss(o, u, w, Y, lengths, opts))]));
  const uce = read1(unaryCrossEntropy(u, Y, lengths));
  const mf = read3(meanFieldMarginals(u, w, lengths, opts));
  const zeroRows = (L: number): number[][] => Array.from({ length: T - L }, () => new Array<number>(K).fill(0));
  lengths.forEach((L, b) => {
    const at = `${label} L=${L}`;
    close(logZ[b], R.refLogPartition(U[b], W, allowed), { rtol: 1e-5, atol: 1e-5 }, `logZ ${at}`);
    const refMarg = R.refMarginals(U[b], W, allowed);
    close(marg[b].slice(0, L), refMarg, { rtol: 0, atol: 2e-6 }, `marginals ${at}`);
    close(
      logm[b].slice(0, L),
      refMarg.map((row) => row.map(Math.log)),
      { rtol: 1e-5, atol: 1e-5 },
      `log-marginals ${at}`,
    );
    for (const rows of [marg, logm, mf]) assert.deepEqual(rows[b].slice(L), zeroRows(L), `padding rows are 0 ${at}`);
    close(scores[b], R.refScore(U[b], W, Y[b], allowed), { rtol: 1e-6, atol: 1e-5 }, `score ${at}`);

    const ref = R.refMap(U[b], W, { allowed });
    close(map.scores[b], ref.score, { rtol: 1e-6, atol: 1e-5 }, `MAP score ${at}`);
    if (ref.gap > 1e-4) assert.deepEqual(map.labels[b], ref.labels, `MAP labels ${at}`);
    const refAug = R.refMap(U[b], W, { allowed, gold: Y[b] });
    close(aug.augmentedScores![b], refAug.augmentedScore, { rtol: 1e-6, atol: 1e-5 }, `loss-augmented objective ${at}`);
    close(aug.scores[b], R.refScore(U[b], W, aug.labels[b], allowed), { rtol: 1e-6, atol: 1e-6 }, `loss-augmented score is F(Y*) ${at}`);
    if (refAug.gap > 1e-4) assert.deepEqual(aug.labels[b], refAug.labels, `loss-augmented labels ${at}`);

    for (const o of OBJECTIVES)
      close(losses[o][b], R.refLoss(o, U[b], W, Y[b], { allowed, meanFieldIterations: MF }), { rtol: 1e-5, atol: 2e-5 }, `${o} loss ${at}`);
    close(uce[b], R.refUnaryCrossEntropy(U[b], Y[b]), { rtol: 1e-5, atol: 1e-5 }, `unary cross-entropy ${at}`);
    close(mf[b].slice(0, L), R.refMeanField(U[b], W, MF, allowed), { rtol: 0, atol: 2e-6 }, `mean-field marginals ${at}`);
  });
  tf.dispose([u, w]);
}

/** Asserts the tfjs gradient of `target` equals central differences of the reference, and is exactly 0 at padding. */
function checkGradients(target: GradTarget, c: GradCase): void {
  const fd = fdGrad((Uc, Wc) => refTotal(target, Uc, Wc, c.Y, c.allowed), c.U, c.W);
  const K = c.W.length;
  const u = batch(c.U, c.T, K, c.pad);
  const w = tf.tensor2d(c.W);
  const [gu, gw] = tfGrads(target, u, w, c.Y, c.lengths, c.allowed);
  const dU = (gu as tf.Tensor3D).arraySync();
  const dW = (gw as tf.Tensor2D).arraySync();
  c.lengths.forEach((L, b) => {
    close(dU[b].slice(0, L), fd.dU[b], { rtol: 1e-3, atol: 2e-4 }, `${target}: dL/dU seq ${b}`);
    for (const row of dU[b].slice(L)) for (const g of row) assert.equal(g, 0, `${target}: gradient at padding must be exactly 0`);
  });
  close(dW, fd.dW, { rtol: 1e-3, atol: 2e-4 }, `${target}: dL/dW`);
  tf.dispose([u, w, gu, gw]);
}

/** BIO for two chunk types: 0 = O, 1 = B-X, 2 = I-X, 3 = B-Y, 4 = I-Y; I-X only after B-X/I-X, I-Y only after B-Y/I-Y. */
const BIO: boolean[][] = Array.from({ length: 5 }, (_, a) =>
  Array.from({ length: 5 }, (_, b) => (b === 2 ? a === 1 || a === 2 : b === 4 ? a === 3 || a === 4 : true)),
);

/** A random labelling that respects `allowed`. */
function allowedLabels(rng: Rng, L: number, K: number, allowed: boolean[][]): number[] {
  for (;;) {
    const y = randLabels(rng, L, K);
    if (R.refIsAllowed(y, allowed)) return y;
  }
}

// ---------------------------------------------------------------------------------------------

describeOnBackends('chain CRF', () => {
  describe('chain CRF against brute-force enumeration', () => {
    for (const K of [2, 3, 4, 5]) {
      it(`K = ${K}, lengths 1..6 in one padded batch: logZ, marginals, MAP, loss-augmented MAP, losses`, () => {
        const rng = new Rng(`brute-${K}`);
        const lengths = [1, 2, 3, 4, 5, 6];
        const T = 6;
        const U = lengths.map((L) => randMat(rng, L, K, 1.5));
        const W = randMat(rng, K, K);
        const Y = lengths.map((L) => randLabels(rng, L, K));
        checkAgainstReference({ U, W, Y, lengths, T, pad: () => 50 * rng.normal() }, `K=${K}`);
      });
    }

    it('max-marginal decoding is the per-position argmax of the marginals', () => {
      const rng = new Rng('decode');
      const U = [randMat(rng, 4, 3), randMat(rng, 2, 3)];
      const W = randMat(rng, 3, 3);
      const u = batch(U, 4, 3, () => 0);
      const w = tf.tensor2d(W);
      const m = marginals(u, w, [4, 2]);
      const decoded = decodeMarginals(m, [4, 2]);
      U.forEach((Ub, b) =>
        assert.deepEqual(
          decoded[b],
          R.refMarginals(Ub, W).map((row) => row.indexOf(Math.max(...row))),
        ),
      );
      tf.dispose([u, w, m]);
    });
  });

  // ---------------------------------------------------------------------------------------------

  describe('gradients against float64 central differences', () => {
    const K = 3;
    const lengths = [3, 2];
    const T = 4;

    const cases: { name: string; allowed?: boolean[][]; K: number }[] = [
      { name: 'unconstrained', K },
      { name: 'BIO-constrained', K: 5, allowed: BIO },
    ];
    for (const c of cases) {
      for (const objective of [...OBJECTIVES, 'unary-cross-entropy'] as const) {
        it(`${objective} (${c.name})`, () => {
          // For ssvm, draw until every loss-augmented maximiser is unique by a margin, so the loss is
          // differentiable at the point and in the finite-difference stencil.
          const rng = new Rng(`grad-${objective}-${c.name}`);
          let U: Mat[], W: Mat, Y: number[][];
          for (;;) {
            U = lengths.map((L) => randMat(rng, L, c.K));
            W = randMat(rng, c.K, c.K);
            Y = lengths.map((L) => (c.allowed ? allowedLabels(rng, L, c.K, c.allowed) : randLabels(rng, L, c.K)));
            if (objective !== 'ssvm' || U.every((Ub, b) => R.refMap(Ub, W, { allowed: c.allowed, gold: Y[b] }).gap > 1e-2)) break;
          }
          checkGradients(objective, { U, W, Y, lengths, T, allowed: c.allowed, pad: () => 7 * rng.normal() });
        });
      }
    }

    it('marginals equal ∂ log Z / ∂ unary', () => {
      const rng = new Rng('dlogz');
      const lengths2 = [5, 3, 1];
      const U = lengths2.map((L) => randMat(rng, L, 4, 2));
      const u = batch(U, 5, 4, () => rng.normal());
      const w = tf.tensor2d(randMat(rng, 4, 4));
      const g = tf.grad((a: tf.Tensor) => tf.sum(logPartition(a as tf.Tensor3D, w, lengths2)))(u) as tf.Tensor3D;
      close(read3(g), read3(marginals(u, w, lengths2)), { rtol: 0, atol: 1e-6 }, 'dlogZ/dU vs marginals');
      tf.dispose([u, w]);
    });
  });

  describe('the float64 log Z op (chain-logpartition.ts) behind the log-likelihood', () => {
    it('log Z, node marginals and summed edge marginals equal brute-force enumeration', () => {
      const rng = new Rng('fused-logz');
      const K = 3;
      const lengths = [4, 1, 3];
      const T = 4;
      const U = lengths.map((L) => randMat(rng, L, K, 2));
      const W = randMat(rng, K, K);
      const u = new Float64Array(lengths.length * T * K);
      U.forEach((Ub, b) => Ub.forEach((row, t) => row.forEach((x, k) => (u[(b * T + t) * K + k] = x))));
      const res = logPartitionArrays(u, W.flat(), lengths, T, K)!;
      U.forEach((Ub, b) => {
        const all = R.refEnumerate(Ub, W);
        const logZ = R.refLogPartition(Ub, W);
        close(res.logZ[b], logZ, { atol: 1e-10 }, `log Z of sequence ${b}`);
        const edges = Array.from({ length: K * K }, () => 0);
        for (const { labels, score: f } of all) for (let t = 1; t < labels.length; t++) edges[labels[t - 1] * K + labels[t]] += Math.exp(f - logZ);
        close(Array.from(res.gW.subarray(b * K * K, (b + 1) * K * K)), edges, { atol: 1e-10 }, `edge marginals of sequence ${b}`);
        close(Array.from(res.gU.subarray(b * T * K, b * T * K + lengths[b] * K)), R.refMarginals(Ub, W).flat(), { atol: 1e-10 }, `marginals of sequence ${b}`);
      });
    });

    it('declines when the mass underflows, and the log-likelihood then takes the tensor path', () => {
      // Label 1 can only be followed by transitions scored −1e4: in probability space their weight is 0.
      const W = [
        [0, -1e4],
        [-1e4, -1e4],
      ];
      const U = [
        [
          [-1e4, 0],
          [0, 0],
        ],
      ];
      assert.equal(logPartitionArrays(U.flat(2), W.flat(), [2], 2, 2), null);
      const u = tf.tensor3d(U);
      const w = tf.tensor2d(W);
      const viaLoss = read1(loss('log-likelihood', u, w, [[1, 0]], [2]));
      const viaTensors = read1(tf.sub(logPartition(u, w, [2]), score(u, w, [[1, 0]], [2])));
      assert.ok(Number.isFinite(viaLoss[0]), `${viaLoss}`);
      close(viaLoss, viaTensors, { rtol: 1e-6 }, 'the fallback');
      tf.dispose([u, w]);
    });
  });

  // ---------------------------------------------------------------------------------------------

  describe('length-1 sequences (the longest sequence of a batch may have length 1)', () => {
    // tfjs's gradient of a one-slice unstack used to throw here ("Argument tensors passed to stack
    // must be a Tensor[]"), so log Z and the log-likelihood had no gradient on a batch of one-token
    // sentences or one-letter words.
    const cases: { name: string; lengths: number[]; T: number; K: number; allowed?: boolean[][] }[] = [
      { name: 'a batch of only length-1 sequences, T = 1', lengths: [1, 1, 1], T: 1, K: 4 },
      { name: 'a single length-1 sequence, T = 1', lengths: [1], T: 1, K: 3 },
      { name: 'length-1 sequences padded to T = 3', lengths: [1, 1], T: 3, K: 3 },
      { name: 'a length-1 sequence in a longer padded batch', lengths: [1, 4, 1], T: 4, K: 3 },
      { name: 'a batch of only length-1 sequences under BIO constraints, T = 1', lengths: [1, 1], T: 1, K: 5, allowed: BIO },
    ];
    for (const c of cases) {
      it(`${c.name}: every value and every gradient against the float64 reference`, () => {
        const rng = new Rng(`length-1 ${c.name}`);
        // Draw until each loss-augmented maximiser is unique by a margin (ssvm is differentiable there).
        let U: Mat[], W: Mat, Y: number[][];
        do {
          U = c.lengths.map((L) => randMat(rng, L, c.K, 1.5));
          W = randMat(rng, c.K, c.K);
          Y = c.lengths.map((L) => (c.allowed ? allowedLabels(rng, L, c.K, c.allowed) : randLabels(rng, L, c.K)));
        } while (!U.every((Ub, b) => R.refMap(Ub, W, { allowed: c.allowed, gold: Y[b] }).gap > 1e-2));
        const g: GradCase = { U, W, Y, lengths: c.lengths, T: c.T, allowed: c.allowed, pad: () => 30 * rng.normal() };
        checkAgainstReference(g, c.name);
        for (const target of ['log-partition', ...OBJECTIVES, 'unary-cross-entropy'] as const) checkGradients(target, g);
      });
    }

    it('∂ log Z / ∂ unary equals the marginals at T = 1 (= softmax of the unaries)', () => {
      const rng = new Rng('dlogz-T1');
      const U = [randMat(rng, 1, 4, 2), randMat(rng, 1, 4, 2)];
      const u = tf.tensor3d(U);
      const w = tf.tensor2d(randMat(rng, 4, 4));
      const g = tf.grad((a: tf.Tensor) => tf.sum(logPartition(a as tf.Tensor3D, w, [1, 1])))(u) as tf.Tensor3D;
      close(
        read3(g),
        U.map((Ub) =>
          R.refMarginals(Ub, [
            [0, 0, 0, 0],
            [0, 0, 0, 0],
            [0, 0, 0, 0],
            [0, 0, 0, 0],
          ]),
        ),
        { rtol: 0, atol: 1e-6 },
        'dlogZ/dU vs softmax',
      );
      tf.dispose([u, w]);
    });

    it('the cross-entropy fallback (a gold marginal below 1e-250) differentiates at T = 1', () => {
      // exp(−1000) underflows float64, so the float64 path declines and the log-space tensor path runs.
      // At L = 1 the CRF marginal is softmax(U), so the cross-entropy is the unary loss: that is the
      // reference (R.refLoss would take the log of an underflowed marginal).
      const U = [[[0, -1000, 3]], [[2, 1, -1]]];
      const Y = [[1], [0]];
      const W = [
        [0.5, -1, 2],
        [1, 0, -0.5],
        [-2, 1, 0],
      ];
      const u = tf.tensor3d(U);
      const w = tf.tensor2d(W);
      const value = read1(loss('cross-entropy', u, w, Y, [1, 1]));
      U.forEach((Ub, b) => close(value[b], R.refUnaryCrossEntropy(Ub, Y[b]), { rtol: 1e-6, atol: 1e-5 }, `loss seq ${b}`));
      const [gu, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(loss('cross-entropy', a as tf.Tensor3D, b as tf.Tensor2D, Y, [1, 1])))([u, w]);
      const fd = fdGrad((Uc) => Uc.reduce((s, Ub, b) => s + R.refUnaryCrossEntropy(Ub, Y[b]), 0), U, W);
      close(read3(gu as tf.Tensor3D), fd.dU, { rtol: 1e-3, atol: 2e-4 }, 'dL/dU');
      close(read1(gw), fd.dW.flat(), { rtol: 0, atol: 0 }, 'dL/dW (no transitions at L = 1)');
      tf.dispose([u, w]);
    });
  });

  // ---------------------------------------------------------------------------------------------

  describe('padding', () => {
    const K = 4;
    const lengths = [5, 1, 3, 7];
    const T = 7;
    for (const [name, pad] of [
      ['huge finite garbage', (rng: Rng) => () => 1e6 * rng.normal()],
      ['NaN garbage', () => () => NaN],
    ] as const) {
      it(`a padded batch gives each sequence's own results, with ${name} in the padding`, () => {
        const rng = new Rng(`pad-${name}`);
        const U = lengths.map((L) => randMat(rng, L, K, 2));
        const W = randMat(rng, K, K);
        const Y = lengths.map((L) => randLabels(rng, L, K));
        const u = batch(U, T, K, pad(rng));
        const w = tf.tensor2d(W);
        const whole = {
          logZ: read1(logPartition(u, w, lengths)),
          marg: read3(marginals(u, w, lengths)),
          logm: read3(logMarginals(u, w, lengths)),
          mf: read3(meanFieldMarginals(u, w, lengths)),
          map: viterbi(u, w, lengths),
          aug: lossAugmentedViterbi(u, w, Y, lengths),
          score: read1(score(u, w, Y, lengths)),
          uce: read1(unaryCrossEntropy(u, Y, lengths)),
          losses: Object.fromEntries(OBJECTIVES.map((o) => [o, read1(loss(o, u, w, Y, lengths))])),
        };
        lengths.forEach((L, b) => {
          const ub = tf.tensor3d([U[b]]);
          const one = [L];
          const at = `sequence ${b} (L = ${L})`;
          // Same ops on a row of the same values: equal up to float32 summation order at most.
          close(whole.logZ[b], read1(logPartition(ub, w, one))[0], { rtol: 1e-6, atol: 1e-6 }, `logZ ${at}`);
          close(whole.marg[b].slice(0, L), read3(marginals(ub, w, one))[0], { rtol: 0, atol: 1e-6 }, `marginals ${at}`);
          close(whole.logm[b].slice(0, L), read3(logMarginals(ub, w, one))[0], { rtol: 1e-6, atol: 1e-6 }, `log-marginals ${at}`);
          close(whole.mf[b].slice(0, L), read3(meanFieldMarginals(ub, w, one))[0], { rtol: 0, atol: 1e-6 }, `mean field ${at}`);
          for (const rows of [whole.marg, whole.logm, whole.mf])
            for (const row of rows[b].slice(L)) assert.deepEqual(row, new Array(K).fill(0), `padding rows are 0 ${at}`);
          assert.deepEqual(whole.map.labels[b], viterbi(ub, w, one).labels[0], `MAP ${at}`);
          assert.deepEqual(whole.aug.labels[b], lossAugmentedViterbi(ub, w, [Y[b]], one).labels[0], `loss-augmented MAP ${at}`);
          close(whole.score[b], read1(score(ub, w, [Y[b]], one))[0], { rtol: 1e-6, atol: 1e-6 }, `score ${at}`);
          close(whole.uce[b], read1(unaryCrossEntropy(ub, [Y[b]], one))[0], { rtol: 1e-6, atol: 1e-6 }, `unary CE ${at}`);
          for (const o of OBJECTIVES) close(whole.losses[o][b], read1(loss(o, ub, w, [Y[b]], one))[0], { rtol: 1e-6, atol: 1e-6 }, `${o} ${at}`);
          ub.dispose();
        });

        for (const o of OBJECTIVES) {
          const [gu, gw] = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(loss(o, a as tf.Tensor3D, c as tf.Tensor2D, Y, lengths)))([u, w]);
          const dU = read3(gu as tf.Tensor3D);
          assert.ok(read1(gw).every(Number.isFinite), `${o}: dW finite`);
          lengths.forEach((L, b) => {
            for (const row of dU[b].slice(0, L)) assert.ok(row.every(Number.isFinite), `${o}: dU finite at real positions`);
            for (const row of dU[b].slice(L)) assert.deepEqual(row, new Array(K).fill(0), `${o}: dU is exactly 0 at padding`);
          });
        }
        tf.dispose([u, w]);
      });
    }
  });

  // ---------------------------------------------------------------------------------------------

  describe('numerical stability', () => {
    it('T = 200, K = 26, potentials with std 20: logZ and marginals match float64 forward–backward, losses and gradients finite', () => {
      const rng = new Rng('stability');
      const K = 26;
      const lengths = [200, 137];
      const U = lengths.map((L) => randMat(rng, L, K, 20));
      const W = randMat(rng, K, K, 20);
      const Y = lengths.map((L) => randLabels(rng, L, K));
      const u = batch(U, 200, K, () => 20 * rng.normal());
      const w = tf.tensor2d(W);
      const logZ = read1(logPartition(u, w, lengths));
      const marg = read3(marginals(u, w, lengths));
      lengths.forEach((L, b) => {
        const ref = R.refForwardBackward(U[b], W);
        close(logZ[b], ref.logZ, { rtol: 1e-3, atol: 0 }, `logZ sequence ${b}`);
        close(logZ[b], ref.logZ, { rtol: 1e-5, atol: 0 }, `logZ sequence ${b} (tighter: the scaled recursion should do much better than 1e-3)`);
        close(marg[b].slice(0, L), ref.marginals, { rtol: 0, atol: 1e-3 }, `marginals sequence ${b}`);
      });
      for (const o of OBJECTIVES) {
        const [gu, gw] = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(loss(o, a as tf.Tensor3D, c as tf.Tensor2D, Y, lengths)))([u, w]);
        assert.ok(read1(loss(o, u, w, Y, lengths)).every(Number.isFinite), `${o}: loss finite`);
        assert.ok(read1(gu).every(Number.isFinite) && read1(gw).every(Number.isFinite), `${o}: gradients finite`);
      }
      tf.dispose([u, w]);
    });
  });

  // ---------------------------------------------------------------------------------------------

  describe('mean field', () => {
    it('with pairwise = 0 it equals softmax(unary), for any number of iterations', () => {
      const rng = new Rng('mf-zero');
      const U = [randMat(rng, 5, 4, 3), randMat(rng, 2, 4, 3)];
      const u = batch(U, 5, 4, () => 0);
      const w = tf.zeros([4, 4]) as tf.Tensor2D;
      const soft = U.map((Ub) => Ub.map((row) => row.map((x) => Math.exp(x) / row.reduce((s, y) => s + Math.exp(y), 0))));
      for (const n of [0, 1, 5]) {
        const q = read3(meanFieldMarginals(u, w, [5, 2], { meanFieldIterations: n }));
        U.forEach((Ub, b) => {
          close(q[b].slice(0, Ub.length), soft[b], { rtol: 0, atol: 1e-6 }, `tfjs, ${n} iterations`);
          close(R.refMeanField(Ub, randMat(rng, 4, 4, 0), n), soft[b], { rtol: 0, atol: 1e-12 }, `reference, ${n} iterations`);
        });
      }
      tf.dispose([u, w]);
    });

    it('converges to a fixed point on small chains, monotonically in the ELBO', () => {
      const rng = new Rng('mf-converge');
      for (let trial = 0; trial < 4; trial++) {
        const K = 3;
        const L = 6;
        const U = randMat(rng, L, K, 1);
        const W = randMat(rng, K, K, 1);
        // The reference ELBO never decreases (parity updates are coordinate ascent) and stays ≤ log Z.
        const logZ = R.refLogPartition(U, W);
        let last = -Infinity;
        for (let n = 0; n <= 30; n++) {
          const e = R.refMeanFieldElbo(U, W, R.refMeanField(U, W, n));
          assert.ok(e >= last - 1e-12, `ELBO decreased at iteration ${n}: ${last} → ${e}`);
          assert.ok(e <= logZ + 1e-12, 'ELBO ≤ log Z');
          last = e;
        }
        const u = tf.tensor3d([U]);
        const w = tf.tensor2d(W);
        const q60 = read3(meanFieldMarginals(u, w, [L], { meanFieldIterations: 60 }))[0];
        const q61 = read3(meanFieldMarginals(u, w, [L], { meanFieldIterations: 61 }))[0];
        close(q61, q60, { rtol: 0, atol: 1e-6 }, `trial ${trial}: one more iteration changes nothing`);
        close(q60, R.refMeanField(U, W, 200), { rtol: 0, atol: 1e-5 }, `trial ${trial}: tfjs fixed point = float64 fixed point`);
        tf.dispose([u, w]);
      }
    });
  });

  // ---------------------------------------------------------------------------------------------

  describe('transition constraints (options.allowed)', () => {
    it('logZ, marginals and MAP equal brute force over the allowed labellings only (BIO, K = 5)', () => {
      const rng = new Rng('bio');
      const K = 5;
      const lengths = [1, 2, 3, 4, 5];
      const U = lengths.map((L) => randMat(rng, L, K, 1.5));
      const W = randMat(rng, K, K);
      const Y = lengths.map((L) => allowedLabels(rng, L, K, BIO));
      const u = batch(U, 5, K, () => rng.normal());
      const w = tf.tensor2d(W);
      const opts = { allowed: BIO };
      const logZ = read1(logPartition(u, w, lengths, opts));
      const marg = read3(marginals(u, w, lengths, opts));
      const map = viterbi(u, w, lengths, opts);
      const aug = lossAugmentedViterbi(u, w, Y, lengths, opts);
      const losses = Object.fromEntries(OBJECTIVES.map((o) => [o, read1(loss(o, u, w, Y, lengths, opts))]));
      lengths.forEach((L, b) => {
        close(logZ[b], R.refLogPartition(U[b], W, BIO), { rtol: 1e-5, atol: 1e-5 }, `logZ L=${L}`);
        close(marg[b].slice(0, L), R.refMarginals(U[b], W, BIO), { rtol: 0, atol: 2e-6 }, `marginals L=${L}`);
        const ref = R.refMap(U[b], W, { allowed: BIO });
        assert.ok(R.refIsAllowed(map.labels[b], BIO), 'MAP uses allowed transitions only');
        if (ref.gap > 1e-4) assert.deepEqual(map.labels[b], ref.labels, `MAP L=${L}`);
        close(map.scores[b], ref.score, { rtol: 1e-6, atol: 1e-5 }, `MAP score L=${L}`);
        assert.ok(R.refIsAllowed(aug.labels[b], BIO), 'loss-augmented MAP uses allowed transitions only');
        close(aug.augmentedScores![b], R.refMap(U[b], W, { allowed: BIO, gold: Y[b] }).augmentedScore, { rtol: 1e-6, atol: 1e-5 }, `loss-augmented L=${L}`);
        for (const o of OBJECTIVES)
          close(losses[o][b], R.refLoss(o, U[b], W, Y[b], { allowed: BIO, meanFieldIterations: MF }), { rtol: 1e-5, atol: 2e-5 }, `${o} L=${L}`);
      });
      tf.dispose([u, w]);
    });

    it('forbidden transitions stay excluded even when the pairwise scores favour them', () => {
      const rng = new Rng('bio-adversarial');
      const K = 5;
      const U = [randMat(rng, 4, K)];
      U[0][0][0] += 5; // O first …
      U[0][1][2] += 5; // … then I-X: the unconstrained MAP would be O → I-X
      const W = randMat(rng, K, K);
      W[0][2] = 100;
      const u = tf.tensor3d(U);
      const w = tf.tensor2d(W);
      const map = viterbi(u, w, [4], { allowed: BIO });
      assert.ok(R.refIsAllowed(map.labels[0], BIO), `MAP ${map.labels[0]} uses a forbidden transition`);
      assert.deepEqual(map.labels[0], R.refMap(U[0], W, { allowed: BIO }).labels);
      close(read1(logPartition(u, w, [4], { allowed: BIO }))[0], R.refLogPartition(U[0], W, BIO), { rtol: 1e-5, atol: 1e-5 }, 'logZ');
      close(read3(marginals(u, w, [4], { allowed: BIO }))[0], R.refMarginals(U[0], W, BIO), { rtol: 0, atol: 2e-6 }, 'marginals');
      tf.dispose([u, w]);
    });

    it('a gold labelling that uses a forbidden transition gets a huge log-likelihood and ssvm loss', () => {
      const rng = new Rng('bio-bad-gold');
      const U = [randMat(rng, 3, 5)];
      const u = tf.tensor3d(U);
      const w = tf.tensor2d(randMat(rng, 5, 5));
      const Y = [[0, 2, 2]]; // O → I-X is forbidden
      for (const o of ['log-likelihood', 'ssvm'] as Objective[]) {
        const v = read1(loss(o, u, w, Y, [3], { allowed: BIO }))[0];
        assert.ok(Number.isFinite(v) && v > 1e3, `${o}: loss ${v} should be huge and finite`);
      }
      // The cross-entropy is per position: each gold label on its own is reachable (I-X after B-X), so it stays moderate.
      const ce = read1(loss('cross-entropy', u, w, Y, [3], { allowed: BIO }))[0];
      assert.ok(Number.isFinite(ce) && ce < 1e2, `cross-entropy ${ce}`);
      tf.dispose([u, w]);
    });
  });

  describe('ssvm with a given maximiser (train.ssvm_maximiser)', () => {
    it('uses the Y* it is given: F(Y*) + Δ(Y*, Y) − F(Y) on the potentials given; the decoded Y* reproduces the default', () => {
      const rng = new Rng('ssvm-maximiser');
      const U = [randMat(rng, 4, 3), randMat(rng, 4, 3)];
      const W = randMat(rng, 3, 3);
      const L = [4, 2];
      const Y = [randLabels(rng, 4, 3), randLabels(rng, 2, 3)];
      const u = tf.tensor3d(U);
      const w = tf.tensor2d(W);
      const decoded = lossAugmentedViterbi(u, w, Y, L).labels;
      assert.deepEqual(read1(loss('ssvm', u, w, Y, L, { maximiser: decoded })), read1(loss('ssvm', u, w, Y, L)));
      // Another labelling: the loss is the margin of that labelling, not the decoder's.
      const other = [
        [0, 1, 2, 0],
        [2, 2],
      ];
      const expected = other.map((ys, b) => {
        const f = (z: number[]) => z.reduce((a, y, t) => a + U[b][t][y] + (t > 0 ? W[z[t - 1]][y] : 0), 0);
        const delta = ys.filter((y, t) => y !== Y[b][t]).length / ys.length;
        return f(ys) + delta - f(Y[b].slice(0, L[b]));
      });
      close(read1(loss('ssvm', u, w, Y, L, { maximiser: other })), expected, { rtol: 1e-5, atol: 1e-5 }, 'ssvm with a given Y*');
      assert.throws(
        () => loss('ssvm', u, w, Y, L, { maximiser: [[0, 1, 2, 0]] }),
        (e: unknown) => e instanceof CrfInputError && /maximiser/.test(e.message),
      );
      tf.dispose([u, w]);
    });
  });

  // ---------------------------------------------------------------------------------------------

  describe('bad input', () => {
    const u = () => tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const w = () => tf.zeros([4, 4]) as tf.Tensor2D;
    const Y = [
      [0, 1, 2],
      [3, 3],
    ];
    const L = [3, 2];

    /**
     * Asserts that f(...inputs) throws a CrfInputError naming `argument` and matching `detail`, and that
     * the failed call leaks no tensors. `make` builds the inputs (default: unary [2, 3, 4], pairwise [4, 4]).
     */
    function rejects(
      argument: string,
      detail: RegExp,
      f: (u: tf.Tensor3D, w: tf.Tensor2D) => unknown,
      make: () => [tf.Tensor, tf.Tensor] = () => [u(), w()],
    ): void {
      const [uu, ww] = make();
      const before = tf.memory().numTensors;
      assert.throws(
        () => f(uu as tf.Tensor3D, ww as tf.Tensor2D),
        (e: unknown) => {
          assert.ok(e instanceof CrfInputError, `expected a CrfInputError, got ${String(e)}`);
          assert.equal(e.argument, argument);
          assert.ok(e.message.startsWith(`${argument}: `), e.message);
          assert.match(e.message, detail);
          return true;
        },
      );
      assert.equal(tf.memory().numTensors, before, 'a rejected call leaks no tensors');
      tf.dispose([uu, ww]);
    }

    it('names the argument and the expected shape', () => {
      const fns = {
        logPartition: (a: tf.Tensor3D, b: tf.Tensor2D, l: number[]) => logPartition(a, b, l),
        marginals: (a: tf.Tensor3D, b: tf.Tensor2D, l: number[]) => marginals(a, b, l),
        viterbi: (a: tf.Tensor3D, b: tf.Tensor2D, l: number[]) => viterbi(a, b, l),
        meanFieldMarginals: (a: tf.Tensor3D, b: tf.Tensor2D, l: number[]) => meanFieldMarginals(a, b, l),
        score: (a: tf.Tensor3D, b: tf.Tensor2D, l: number[]) => score(a, b, [[0, 0, 0].slice(0, l[0] ?? 0), [0, 0, 0].slice(0, l[1] ?? 0)], l),
        loss: (a: tf.Tensor3D, b: tf.Tensor2D, l: number[]) => loss('log-likelihood', a, b, [[0, 0, 0].slice(0, l[0] ?? 0), [0, 0, 0].slice(0, l[1] ?? 0)], l),
      };
      for (const [name, f] of Object.entries(fns)) {
        rejects(
          'unary',
          /rank-3 tensor \[B, T, K\], got shape \[3, 4\]/,
          (a, b) => f(a, b, L),
          () => [tf.zeros([3, 4]), w()],
        );
        rejects(
          'unary',
          /float32/,
          (a, b) => f(a, b, L),
          () => [tf.zeros([2, 3, 4], 'int32'), w()],
        );
        rejects(
          'pairwise',
          /\[K, K\] = \[4, 4\].*got \[4, 5\]/,
          (a, b) => f(a, b, L),
          () => [u(), tf.zeros([4, 5])],
        );
        rejects(
          'pairwise',
          /\[K, K\]/,
          (a, b) => f(a, b, L),
          () => [u(), tf.zeros([16])],
        );
        rejects('lengths', /expected 2 entries/, (a, b) => f(a, b, [3]));
        rejects('lengths', /lengths\[1\] = 0.*\[1, 3\]/, (a, b) => f(a, b, [3, 0]));
        rejects('lengths', /lengths\[0\] = 4/, (a, b) => f(a, b, [4, 2]));
        rejects('lengths', /lengths\[0\] = 2.5/, (a, b) => f(a, b, [2.5, 2]));
        rejects(
          'unary',
          /NaN/,
          (a, b) => f(a, b, L),
          () => [
            tf.tensor3d([
              [
                [0, 0, 0, 0],
                [0, NaN, 0, 0],
                [0, 0, 0, 0],
              ],
              [
                [0, 0, 0, 0],
                [0, 0, 0, 0],
                [0, 0, 0, 0],
              ],
            ]),
            w(),
          ],
        );
        rejects(
          'pairwise',
          /NaN or ±Infinity/,
          (a, b) => f(a, b, L),
          () => [
            u(),
            tf.tensor2d([
              [0, 0, 0, Infinity],
              [0, 0, 0, 0],
              [0, 0, 0, 0],
              [0, 0, 0, 0],
            ]),
          ],
        );
        rejects('options.allowed', /4×4/, (a, b) =>
          name === 'viterbi' ? viterbi(a, b, L, { allowed: [[true]] }) : logPartition(a, b, L, { allowed: [[true]] }),
        );
      }
    });

    it('checks labels against lengths and K', () => {
      const withLabels = {
        score: (a: tf.Tensor3D, b: tf.Tensor2D, y: number[][]) => score(a, b, y, L),
        loss: (a: tf.Tensor3D, b: tf.Tensor2D, y: number[][]) => loss('ssvm', a, b, y, L),
        unaryCrossEntropy: (a: tf.Tensor3D, _b: tf.Tensor2D, y: number[][]) => unaryCrossEntropy(a, y, L),
      };
      for (const f of Object.values(withLabels)) {
        rejects('labels', /expected 2 label sequences/, (a, b) => f(a, b, [Y[0]]));
        rejects('labels', /labels\[1\] has 3 entries, expected lengths\[1\] = 2/, (a, b) => f(a, b, [Y[0], [0, 0, 0]]));
        rejects('labels', /labels\[0\]\[2\] = 4.*\[0, 4\)/, (a, b) =>
          f(a, b, [
            [0, 1, 4],
            [0, 0],
          ]),
        );
        rejects('labels', /labels\[1\]\[0\] = -1/, (a, b) => f(a, b, [Y[0], [-1, 0]]));
        rejects('labels', /labels\[1\]\[1\] = 0.5/, (a, b) => f(a, b, [Y[0], [0, 0.5]]));
      }
      rejects('lossAugment.labels', /lossAugment.labels\[0\] has 2 entries/, (a, b) =>
        lossAugmentedViterbi(
          a,
          b,
          [
            [0, 0],
            [0, 0],
          ],
          L,
        ),
      );
      rejects(
        'unary',
        /rank-3/,
        (a) => unaryCrossEntropy(a, Y, L),
        () => [tf.zeros([2, 3]), w()],
      );
      rejects('options.meanFieldIterations', /non-negative integer/, (a, b) => loss('cross-entropy-mf', a, b, Y, L, { meanFieldIterations: -1 }));
      rejects('options.meanFieldIterations', /non-negative integer/, (a, b) => meanFieldMarginals(a, b, L, { meanFieldIterations: 1.5 }));
      rejects('objective', /expected one of/, (a, b) => loss('hinge' as Objective, a, b, Y, L));
    });

    it('padding may hold NaN (only real positions are checked)', () => {
      const a = tf.tensor3d([
        [
          [0, 0],
          [NaN, Infinity],
        ],
      ]);
      const b = tf.zeros([2, 2]) as tf.Tensor2D;
      assert.ok(Number.isFinite(read1(logPartition(a, b, [1]))[0]));
      assert.deepEqual(viterbi(a, b, [1]).labels, [[0]]);
      tf.dispose([a, b]);
    });
  });

  // ---------------------------------------------------------------------------------------------

  describe('memory', () => {
    it('no function leaks tensors, in or out of tf.tidy, with and without gradients', () => {
      const rng = new Rng('leaks');
      const lengths = [4, 2];
      const Y = lengths.map((L) => randLabels(rng, L, 3));
      const u = batch(
        lengths.map((L) => randMat(rng, L, 3)),
        4,
        3,
        () => 0,
      );
      const w = tf.tensor2d(randMat(rng, 3, 3));
      const calls: [string, () => tf.Tensor | tf.Tensor[] | object][] = [
        ['logPartition', () => logPartition(u, w, lengths)],
        ['marginals', () => marginals(u, w, lengths)],
        ['logMarginals', () => logMarginals(u, w, lengths)],
        ['meanFieldMarginals', () => meanFieldMarginals(u, w, lengths)],
        ['score', () => score(u, w, Y, lengths, { allowed: BIO.slice(0, 3).map((r) => r.slice(0, 3)) })],
        ['unaryCrossEntropy', () => unaryCrossEntropy(u, Y, lengths)],
        ['viterbi', () => viterbi(u, w, lengths)],
        ['lossAugmentedViterbi', () => lossAugmentedViterbi(u, w, Y, lengths)],
        ['decodeMarginals', () => tf.tidy(() => decodeMarginals(marginals(u, w, lengths), lengths))],
        ...OBJECTIVES.map((o): [string, () => tf.Tensor] => [
          `loss ${o}`,
          () =>
            loss(o, u, w, Y, lengths, {
              allowed: [
                [1, 1, 1],
                [1, 1, 0],
                [1, 1, 1],
              ],
            }),
        ]),
        ...OBJECTIVES.map((o): [string, () => tf.Tensor[]] => [
          `gradient of ${o}`,
          () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(loss(o, a as tf.Tensor3D, b as tf.Tensor2D, Y, lengths)))([u, w]),
        ]),
      ];
      for (const [name, call] of calls) {
        const before = tf.memory().numTensors;
        const out = call();
        if (out instanceof tf.Tensor || Array.isArray(out)) tf.dispose(out as tf.Tensor | tf.Tensor[]);
        assert.equal(tf.memory().numTensors, before, `${name} leaked ${tf.memory().numTensors - before} tensors`);
        tf.tidy(() => {
          call();
        });
        assert.equal(tf.memory().numTensors, before, `${name} leaked inside tf.tidy`);
      }
      tf.dispose([u, w]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The fused kernels of the native back end (native/sps_crf.c, dispatched by src/crf/chain-fused.ts):
// each against the float64 oracle (values; gradients by central differences) and against the
// tfjs-composed path (`fused: false`) in the same process, forward and backward.

/** The kernels a call ran (tf.profile), its tensors disposed. */
async function kernelsOf(f: () => tf.TensorContainer): Promise<string[]> {
  const prof = await tf.profile(() => {
    tf.dispose(f());
  });
  return prof.kernelNames;
}

describeOnBackends('chain CRF, fused kernels', (backend) => {
  if (backend !== 'native') return; // only the native back end registers them

  interface FusedCase {
    name: string;
    K: number;
    lengths: number[];
    T: number;
    std: number;
    allowed?: boolean[][];
    pad: (rng: Rng) => () => number;
  }
  const CASES: FusedCase[] = [
    { name: 'mixed lengths, NaN in the padding', K: 4, lengths: [4, 1, 3], T: 5, std: 1.5, pad: () => () => NaN },
    { name: 'only length-1 sequences, T = 1', K: 3, lengths: [1, 1], T: 1, std: 1.5, pad: () => () => 0 },
    { name: 'BIO constraints, garbage padding', K: 5, lengths: [3, 1, 4], T: 4, std: 1.5, allowed: BIO, pad: (rng) => () => 1e6 * rng.normal() },
    { name: 'tiny potentials (std 1e-3)', K: 4, lengths: [4, 2], T: 4, std: 1e-3, pad: (rng) => () => rng.normal() },
    { name: 'large potentials (std 20)', K: 3, lengths: [4, 3], T: 5, std: 20, pad: (rng) => () => 20 * rng.normal() },
  ];
  const TARGETS = ['log-partition', ...OBJECTIVES] as const;

  for (const c of CASES) {
    for (const target of TARGETS) {
      it(`${target}, ${c.name}: value and gradient against the float64 oracle and the tfjs path`, async () => {
        const rng = new Rng(`fused ${target} ${c.name}`);
        // ssvm: draw until every loss-augmented maximiser is unique by a margin well above the
        // central-difference step (1e-4), so the loss is differentiable across the stencil.
        const margin = Math.min(1e-2, c.std / 2);
        let U: Mat[], W: Mat, Y: number[][];
        let draws = 0;
        do {
          assert.ok(draws++ < 1000, 'no draw with unique maximisers');
          U = c.lengths.map((L) => randMat(rng, L, c.K, c.std));
          W = randMat(rng, c.K, c.K, c.std);
          Y = c.lengths.map((L) => (c.allowed ? allowedLabels(rng, L, c.K, c.allowed) : randLabels(rng, L, c.K)));
        } while (target === 'ssvm' && !U.every((Ub, b) => R.refMap(Ub, W, { allowed: c.allowed, gold: Y[b] }).gap > margin));
        const u = batch(U, c.T, c.K, c.pad(rng));
        const w = tf.tensor2d(W);
        const value = (fused: boolean): number[] =>
          read1(
            target === 'log-partition'
              ? logPartition(u, w, c.lengths, { allowed: c.allowed, fused })
              : loss(target, u, w, Y, c.lengths, { allowed: c.allowed, fused }),
          );
        const ran = await kernelsOf(() => tfGrads(target, u, w, Y, c.lengths, c.allowed, true));
        assert.ok(ran.includes('SpsChainCrf') && ran.includes('SpsChainCrfGrad'), `the fused kernels ran: ${ran.join(', ')}`);
        assert.ok(!(await kernelsOf(() => tfGrads(target, u, w, Y, c.lengths, c.allowed, false))).includes('SpsChainCrf'), 'fused: false takes the tfjs path');

        const [fusedV, tfjsV] = [value(true), value(false)];
        const ref = U.map((Ub, b) => refTotal(target, [Ub], W, [Y[b]], c.allowed));
        close(fusedV, ref, { rtol: 1e-5, atol: 2e-5 }, 'fused value vs float64 oracle');
        close(fusedV, tfjsV, { rtol: 1e-5, atol: 2e-5 }, 'fused value vs tfjs path');

        const [gu, gw] = tfGrads(target, u, w, Y, c.lengths, c.allowed, true);
        const [tu, tw] = tfGrads(target, u, w, Y, c.lengths, c.allowed, false);
        const fd = fdGrad((Uc, Wc) => refTotal(target, Uc, Wc, Y, c.allowed), U, W);
        const [dU, dW, tU, tW] = [read3(gu as tf.Tensor3D), (gw as tf.Tensor2D).arraySync(), read3(tu as tf.Tensor3D), (tw as tf.Tensor2D).arraySync()];
        c.lengths.forEach((L, b) => {
          close(dU[b].slice(0, L), fd.dU[b], { rtol: 1e-3, atol: 2e-4 }, `fused dU seq ${b} vs central differences`);
          close(dU[b].slice(0, L), tU[b].slice(0, L), { rtol: 1e-3, atol: 2e-4 }, `fused dU seq ${b} vs tfjs path`);
          for (const row of dU[b].slice(L)) for (const g of row) assert.equal(g, 0, 'fused gradient at padding is exactly 0');
        });
        close(dW, fd.dW, { rtol: 1e-3, atol: 2e-4 }, 'fused dW vs central differences');
        close(dW, tW, { rtol: 1e-3, atol: 2e-4 }, 'fused dW vs tfjs path');
        if (c.allowed)
          c.allowed.forEach((row, a) => row.forEach((ok, b2) => ok || assert.equal(dW[a][b2], 0, `dW at the forbidden ${a} → ${b2} is exactly 0`)));
        tf.dispose([u, w, gw, tw]);
      });
    }
  }

  it('Viterbi and loss-augmented Viterbi: the same labellings as the JS decoder, ties (integer potentials) to the smallest label', () => {
    const rng = new Rng('fused viterbi');
    for (const [K, allowed] of [
      [4, undefined],
      [5, BIO],
      [1, undefined],
    ] as const) {
      const lengths = [6, 1, 3, 5];
      const T = 6;
      const U = lengths.map((L) => Array.from({ length: L }, () => Array.from({ length: K }, () => rng.int(3))));
      const W = Array.from({ length: K }, () => Array.from({ length: K }, () => rng.int(2)));
      const Y = lengths.map((L) => (allowed ? allowedLabels(rng, L, K, allowed) : randLabels(rng, L, K)));
      const u = batch(U, T, K, () => NaN);
      const w = tf.tensor2d(W);
      for (const options of [{ allowed }, { allowed, lossAugment: { labels: Y } }]) {
        const fused = viterbi(u, w, lengths, { ...options, fused: true });
        assert.deepEqual(fused, viterbi(u, w, lengths, { ...options, fused: false }), `K = ${K}, ${options.lossAugment ? 'loss-augmented' : 'MAP'}`);
        lengths.forEach((L, b) => {
          const ref = R.refMap(U[b], W, { allowed, gold: options.lossAugment ? Y[b] : undefined });
          close(
            options.lossAugment ? fused.augmentedScores![b] : fused.scores[b],
            ref.augmentedScore,
            { rtol: 1e-6, atol: 1e-5 },
            `K = ${K} L = ${L}: the maximum`,
          );
        });
      }
      tf.dispose([u, w]);
    }
  });

  it('ssvm with a given maximiser: the fused loss and gradient equal the tfjs path', () => {
    const rng = new Rng('fused maximiser');
    const lengths = [4, 2];
    const U = lengths.map((L) => randMat(rng, L, 3));
    const W = randMat(rng, 3, 3);
    const Y = lengths.map((L) => randLabels(rng, L, 3));
    const star = [
      [0, 1, 2, 0],
      [2, 2],
    ];
    const u = batch(U, 4, 3, () => NaN);
    const w = tf.tensor2d(W);
    const run = (fused: boolean) => {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(loss('ssvm', a as tf.Tensor3D, b as tf.Tensor2D, Y, lengths, { maximiser: star, fused }));
      return [
        read1(f(u, w)),
        ...tf
          .grads(f)([u, w])
          .map((g) => read1(g)),
      ];
    };
    const [fused, tfjs] = [run(true), run(false)];
    fused.forEach((x, i) => close(x, tfjs[i], { rtol: 1e-6, atol: 1e-6 }, ['loss', 'dU', 'dW'][i]));
    tf.dispose([u, w]);
  });

  it('mean field with 0, 1 and 3 iterations: the fused loss and gradient against the float64 iteration and the tfjs path', () => {
    const rng = new Rng('fused mean field');
    const lengths = [5, 2, 1];
    const U = lengths.map((L) => randMat(rng, L, 4, 1.5));
    const W = randMat(rng, 4, 4);
    const Y = lengths.map((L) => randLabels(rng, L, 4));
    const u = batch(U, 5, 4, () => NaN);
    const w = tf.tensor2d(W);
    for (const n of [0, 1, 3]) {
      const f = (fused: boolean) => (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(loss('cross-entropy-mf', a as tf.Tensor3D, b as tf.Tensor2D, Y, lengths, { meanFieldIterations: n, fused }));
      const ref = (Uc: Mat[], Wc: Mat) => Uc.reduce((s, Ub, b) => s + R.refLoss('cross-entropy-mf', Ub, Wc, Y[b], { meanFieldIterations: n }), 0);
      close(read1(f(true)(u, w))[0], ref(U, W), { rtol: 1e-5, atol: 2e-5 }, `${n} iterations: loss`);
      const [gu, gw] = tf.grads(f(true))([u, w]);
      const fd = fdGrad(ref, U, W);
      const [dU, dW] = [read3(gu as tf.Tensor3D), read1(gw)];
      lengths.forEach((L, b) => close(dU[b].slice(0, L), fd.dU[b], { rtol: 1e-3, atol: 2e-4 }, `${n} iterations: dU seq ${b}`));
      close(dW, fd.dW.flat(), { rtol: 1e-3, atol: 2e-4 }, `${n} iterations: dW`);
      if (n === 0) {
        // The tfjs path's loss does not involve the pairwise matrix then, and tf.grads refuses it.
        assert.ok(
          dW.every((g) => g === 0),
          '0 iterations: dW is exactly 0',
        );
        close(dU, read3(tf.grad((a: tf.Tensor) => f(false)(a, w))(u) as tf.Tensor3D), { rtol: 1e-3, atol: 2e-4 }, '0 iterations: dU vs tfjs path');
        continue;
      }
      const [tu, tw] = tf.grads(f(false))([u, w]);
      close(dU, read3(tu as tf.Tensor3D), { rtol: 1e-3, atol: 2e-4 }, `${n} iterations: dU vs tfjs path`);
      close(dW, read1(tw), { rtol: 1e-3, atol: 2e-4 }, `${n} iterations: dW vs tfjs path`);
    }
    tf.dispose([u, w]);
  });

  it('T = 200, K = 26, potentials with std 20: fused log Z and its gradient (the marginals) match float64 forward–backward', () => {
    const rng = new Rng('fused stability');
    const K = 26;
    const lengths = [200, 137];
    // Potentials that are float32 numbers already, so that the oracle sees what the kernel sees.
    const U = lengths.map((L) => randMat(rng, L, K, 20).map((row) => row.map(Math.fround)));
    const W = randMat(rng, K, K, 20).map((row) => row.map(Math.fround));
    const u = batch(U, 200, K, () => 20 * rng.normal());
    const w = tf.tensor2d(W);
    const logZ = read1(logPartition(u, w, lengths));
    const g = read3(tf.grad((a: tf.Tensor) => tf.sum(logPartition(a as tf.Tensor3D, w, lengths)))(u) as tf.Tensor3D);
    lengths.forEach((L, b) => {
      const ref = R.refForwardBackward(U[b], W);
      close(logZ[b], ref.logZ, { rtol: 1e-6, atol: 0 }, `logZ sequence ${b}`);
      close(g[b].slice(0, L), ref.marginals, { rtol: 0, atol: 1e-6 }, `marginals sequence ${b}`);
    });
    tf.dispose([u, w]);
  });

  it("where the probability-space pass declines, the kernel runs and the result is the tfjs path's", async () => {
    // log-likelihood: label 1 is followed only by transitions scored −1e4, whose weight underflows;
    // cross-entropy: a gold marginal of exp(−1000) (both from the tests of the float64 ops above).
    const cases: [Objective, number[][][], number[][], number[][]][] = [
      [
        'log-likelihood',
        [
          [
            [-1e4, 0],
            [0, 0],
          ],
        ],
        [
          [0, -1e4],
          [-1e4, -1e4],
        ],
        [[1, 0]],
      ],
      [
        'cross-entropy',
        [[[0, -1000, 3]], [[2, 1, -1]]],
        [
          [0.5, -1, 2],
          [1, 0, -0.5],
          [-2, 1, 0],
        ],
        [[1], [0]],
      ],
    ];
    for (const [objective, U, W, Y] of cases) {
      const u = tf.tensor3d(U);
      const w = tf.tensor2d(W);
      const lengths = Y.map((y) => y.length);
      const f = (fused: boolean) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(loss(objective, a as tf.Tensor3D, b as tf.Tensor2D, Y, lengths, { fused }));
      assert.ok((await kernelsOf(() => f(true)(u, w))).includes('SpsChainCrf'), `${objective}: the kernel ran`);
      close(read1(f(true)(u, w)), read1(f(false)(u, w)), { rtol: 0, atol: 0 }, `${objective}: the value`);
      const [fused, tfjs] = [tf.grads(f(true))([u, w]), tf.grads(f(false))([u, w])];
      fused.forEach((g, i) => close(read1(g), read1(tfjs[i]), { rtol: 0, atol: 0 }, `${objective}: gradient ${i}`));
      tf.dispose([u, w]);
    }
  });
});
