/**
 * The linear-chain CRF of docs/model.md §2, as differentiable tfjs code.
 *
 * Conventions: potentials are *scores* (higher = more likely), batched with padding:
 *   unary    [B, T, K]  U(x_t, k) for sequence b at position t (rows t ≥ lengths[b] are padding and
 *                       may hold anything: they never reach a result or a gradient);
 *   pairwise [K, K]     W(a, b) = score of label a followed by label b;
 *   lengths  number[B]  1 ≤ lengths[b] ≤ T.
 * The score of a labelling Y = (y_1 … y_L) is (docs/model.md eqs. 1–2)
 *   F(Y) = Σ_{i=1..L} U(x_i, y_i) + Σ_{i=1..L−1} W(y_i, y_{i+1}),   P(Y|X) = exp F(Y) / Z.
 *
 * One dynamic program, in log space, serves the partition function and the marginals
 * (sum-product / forward–backward); Viterbi is its max-sum counterpart, run in plain JS on the
 * downloaded potentials (the maximiser is data: no gradient flows through the argmax).
 *
 * Numerics: float32. Each recursion step is a max-shifted log-sum-exp followed by subtracting the
 * row maximum ("scaled" forward–backward), so α̂ and β̂ stay O(potentials) instead of growing like
 * t · |U| (float32 spacing at |α| ~ 1e4 is ~1e-3); the shifts are added back for log Z. Marginals
 * are normalised per position,
 *   log p_t(k) = α_t(k) + β_t(k) − log Z = logSoftmax_k(α̂_t(k) + β̂_t(k))
 * (exact, since Σ_k exp(α_t(k) + β_t(k)) = Z at every t), which avoids subtracting two numbers of
 * the size of log Z. Measured at T = 200, K = 26, potentials with std 20: log Z within 1e-8
 * relative (cpu) / 4e-7 (wasm) and marginals within 3e-6 absolute of the float64 reference.
 *
 * Performance: the recursions run time-major and reduce over the last axis, the layout in which
 * slicing and reductions are cheap on the cpu and wasm back ends (see logSumExpLast and Lattice).
 */
import * as tf from '@tensorflow/tfjs';
import type { Objective } from './types.js';
import { exactCrossEntropy } from './chain-crossentropy.js';
import { exactLogPartition } from './chain-logpartition.js';
import { fusedObjective, fusedViterbi } from './chain-fused.js';
import { DEFAULT_MEAN_FIELD_ITERATIONS, type MeanFieldOptions, meanFieldCore } from './chain-meanfield.js';
import {
  type ChainOptions,
  CrfInputError,
  type Prepared,
  checkAllowed,
  checkFinite,
  checkInputs,
  checkIterations,
  checkLabels,
  checkLengths,
  checkPotentials,
  checkUnary,
  effectivePairwiseArray,
  inverseLengths,
  oneHotMask,
  prepare,
  prepareChecked,
  validMask,
} from './validate.js';

export { CrfInputError, FORBIDDEN_SCORE, type ChainOptions } from './validate.js';
export { DEFAULT_MEAN_FIELD_ITERATIONS, meanFieldMarginals, type MeanFieldOptions } from './chain-meanfield.js';

export interface LossOptions extends MeanFieldOptions {
  /**
   * ssvm only: the loss-augmented maximiser Y* (eq. 6), decoded by the caller, e.g. on the
   * dropout-free potentials (`train.ssvm_maximiser`); the loss is then F(Y*) + Δ(Y*, Y) − F(Y) on the
   * potentials given, and its subgradient ∂F(Y*) − ∂F(Y). Absent: Y* is decoded on those potentials.
   */
  maximiser?: number[][];
}

export interface ViterbiOptions extends ChainOptions {
  /** Loss-augmented decoding: maximise F(Y') + Δ(Y', Y) with Δ the Hamming loss / L against these labels. */
  lossAugment?: { labels: number[][] };
}

export interface ViterbiResult {
  /** The maximiser of each sequence, `lengths[b]` labels each. */
  labels: number[][];
  /** F(Y*) of each maximiser (under the constrained pairwise matrix), in float64 from the float32 potentials. */
  scores: number[];
  /** With `lossAugment` only: F(Y*) + Δ(Y*, Y), the maximised value. */
  augmentedScores?: number[];
}

// ---------------------------------------------------------------------------------------------
// The chain dynamic program (sum-product).

/** Bool [B, T]: t < lengths[b]. */
function sequenceMask(lengths: readonly number[], B: number, T: number): tf.Tensor2D {
  const m = new Uint8Array(B * T);
  for (let b = 0; b < B; b++) m.fill(1, b * T, b * T + lengths[b]);
  return tf.tensor2d(m, [B, T], 'bool');
}

/**
 * log Σ_k exp x[..., k] over the last axis, max-shifted, with its gradient written out as
 * dy · softmax(x). Reducing over the *last* axis and skipping tfjs's generic composite gradient
 * (which backpropagates through the shift's max as well) makes a recursion step ~3× cheaper on
 * wasm. First-order gradients only, which is all the losses need (the marginals are built from α
 * and β directly, never as a gradient of log Z).
 */
const logSumExpLast: (x: tf.Tensor) => tf.Tensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  const m = tf.max(x, -1, true); // [..., 1]
  const lse = tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, m)), -1, true)), m); // [..., 1]
  save([x, lse]);
  return {
    value: tf.squeeze(lse, [-1]),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.expandDims(dy, -1), tf.exp(tf.sub(saved[0], saved[1]))), // dy · softmax(x)
  };
});

/**
 * x, declared to depend on `other` with gradient 0. At T = 1 there is no transition, so log Z and
 * the marginals do not involve the pairwise scores, and tf.grads would refuse to differentiate
 * them with respect to those ("Cannot compute gradient of y=f(x) with respect to x") while every
 * other objective gives the exact ∂/∂W = 0. No arithmetic touches `other`, so not even a
 * non-finite score can leak into the value or the gradient.
 */
const withZeroGradient: (x: tf.Tensor, other: tf.Tensor) => tf.Tensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, other] = args as [tf.Tensor, tf.Tensor];
  const shape = other.shape;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => [dy, tf.zeros(shape)] };
});

/**
 * The chain's inputs in time-major order: slicing a time step off the leading axis is a free view
 * on the cpu back end, while slicing along axis 1 is a ~100× slower generic loop.
 */
interface Lattice {
  /** T × [B, K]: U_t. */
  us: tf.Tensor2D[];
  /** T × bool [B, K]: position t is real (t < length). */
  steps: tf.Tensor2D[];
  /** Wᵀ [K(j), K(i)], so the forward step reduces over the last axis. */
  wt: tf.Tensor2D;
}

/**
 * tf.unstack along the leading axis, differentiable also when that axis has length 1. tfjs hands
 * the gradient of a single-output op a bare tensor instead of a one-element array, so Unpack's
 * gradient, stack(dy), throws "Argument tensors passed to stack must be a `Tensor[]`" exactly when
 * the batch's longest sequence has length 1. A reshape is the same single slice with an ordinary
 * gradient.
 */
function unstackLeading(x: tf.Tensor): tf.Tensor[] {
  return x.shape[0] === 1 ? [tf.reshape(x, x.shape.slice(1))] : tf.unstack(x, 0);
}

function lattice(p: Prepared, lengths: readonly number[]): Lattice {
  const { B, T, K } = p;
  const m = new Uint8Array(T * B * K);
  for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]; t++) m.fill(1, (t * B + b) * K, (t * B + b + 1) * K);
  const u = tf.transpose(p.unary, [1, 0, 2]); // [T, B, K]
  return {
    us: unstackLeading(T === 1 ? withZeroGradient(u, p.pairwise) : u) as tf.Tensor2D[], // T × [B, K]
    steps: unstackLeading(tf.tensor3d(m, [T, B, K], 'bool')) as tf.Tensor2D[],
    wt: tf.transpose(p.pairwise),
  };
}

/**
 * Forward recursion (§2 sum-product, log space):
 *   α_0(k) = U_0(k),   α_t(j) = U_t(j) + log Σ_i exp(α_{t−1}(i) + W(i, j)),   log Z = log Σ_k exp α_{L−1}(k).
 * Stored scaled, α̂_t = α_t − Σ_{s≤t} c_s with c_s the row maximum, and carried unchanged through
 * padding so that α̂_{T−1} = α̂_{L−1}.
 */
function forward(p: Prepared, lat: Lattice, lengths: readonly number[]): { alphas: tf.Tensor2D[]; logZ: tf.Tensor1D } {
  const { B, T } = p;
  const c0 = tf.max(lat.us[0], 1, true); // [B, 1]
  let alpha = tf.sub(lat.us[0], c0) as tf.Tensor2D; // [B, K]
  const alphas = [alpha];
  const shifts: tf.Tensor[] = [c0]; // T × [B, 1]
  for (let t = 1; t < T; t++) {
    const s = tf.add(tf.expandDims(alpha, 1), lat.wt); // [B, K(j), K(i)]: α̂_{t−1}(i) + W(i, j)
    const next = tf.add(logSumExpLast(s), lat.us[t]); // [B, K(j)]
    const c = tf.max(next, 1, true); // [B, 1]
    alpha = tf.where(lat.steps[t], tf.sub(next, c), alpha) as tf.Tensor2D; // [B, K]; padding: carry
    alphas.push(alpha);
    shifts.push(c);
  }
  const shiftSum = tf.sum(tf.where(sequenceMask(lengths, B, T), tf.concat(shifts, 1), tf.zeros([B, T])), 1); // [B]
  const logZ = tf.add(shiftSum, logSumExpLast(alpha)) as tf.Tensor1D; // [B]
  return { alphas, logZ };
}

/**
 * Backward recursion: β_{L−1}(k) = 0,   β_t(i) = log Σ_j exp(W(i, j) + U_{t+1}(j) + β_{t+1}(j)).
 * Scaled like α (the shifts are not needed: marginals are normalised per position); 0 at t ≥ L−1.
 */
function backward(p: Prepared, lat: Lattice): tf.Tensor2D[] {
  const { B, T, K } = p;
  const zeros = tf.zeros([B, K]);
  let beta = zeros as tf.Tensor2D; // [B, K]
  const betas: tf.Tensor2D[] = new Array(T);
  betas[T - 1] = beta;
  for (let t = T - 2; t >= 0; t--) {
    const s = tf.add(p.pairwise, tf.expandDims(tf.add(lat.us[t + 1], beta), 1)); // [B, K(i), K(j)]: W(i, j) + U_{t+1}(j) + β̂_{t+1}(j)
    const next = logSumExpLast(s); // [B, K(i)]
    const c = tf.max(next, 1, true); // [B, 1]
    beta = tf.where(lat.steps[t + 1], tf.sub(next, c), zeros) as tf.Tensor2D; // [B, K]; 0 unless t+1 < L
    betas[t] = beta;
  }
  return betas;
}

/** log p_t(k | X) [B, T, K] (the marginals, eq. 3), 0 at padding. Call inside tidy. */
function logMarginalsCore(p: Prepared, lengths: readonly number[]): tf.Tensor3D {
  const lat = lattice(p, lengths);
  const { alphas } = forward(p, lat, lengths);
  const betas = backward(p, lat);
  const logits = tf.add(tf.stack(alphas, 0), tf.stack(betas, 0)); // [T, B, K]: α_t + β_t up to a per-(t, b) constant
  const logm = tf.transpose(tf.logSoftmax(logits), [1, 0, 2]); // [B, T, K]
  return tf.where(p.valid, logm, tf.zerosLike(logm)) as tf.Tensor3D;
}

/**
 * log Z(X) per sequence: [B]. Differentiable; ∂ log Z / ∂U = marginals. On a back end with the fused
 * chain kernels, one call (chain-fused.ts); otherwise, or where it declines, the log-space recursion.
 */
export function logPartition(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: number[], options: ChainOptions = {}): tf.Tensor1D {
  return tf.tidy(() => {
    const dims = checkInputs(unary, pairwise, lengths, options);
    const fused = fusedObjective('log-partition', unary, pairwise, lengths, dims, options);
    if (fused) return fused;
    const p = prepareChecked(unary, pairwise, lengths, dims, options.allowed);
    return forward(p, lattice(p, lengths), lengths).logZ;
  });
}

/**
 * Exact marginals p_t(k | X) = exp(α_t(k) + β_t(k) − log Z): [B, T, K], rows at t ≥ length exactly
 * 0. Built from the α and β recursions (not as a gradient of log Z), so losses can backpropagate
 * through them (first-order gradients).
 */
export function marginals(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: number[], options: ChainOptions = {}): tf.Tensor3D {
  return tf.tidy(() => {
    const p = prepare(unary, pairwise, lengths, options);
    return tf.where(p.valid, tf.exp(logMarginalsCore(p, lengths)), tf.zerosLike(p.unary)) as tf.Tensor3D;
  });
}

/** log p_t(k | X): [B, T, K], 0 at padding. The numerically preferable input for cross-entropies. */
export function logMarginals(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: number[], options: ChainOptions = {}): tf.Tensor3D {
  return tf.tidy(() => logMarginalsCore(prepare(unary, pairwise, lengths, options), lengths));
}

// ---------------------------------------------------------------------------------------------
// Scores of given labellings.

/** Float [B, K, K]: number of transitions a → b in each labelling (data). */
function transitionCounts(labels: readonly (readonly number[])[], B: number, K: number): tf.Tensor3D {
  const c = new Float32Array(B * K * K);
  labels.forEach((ys, b) => {
    for (let i = 0; i + 1 < ys.length; i++) c[(b * K + ys[i]) * K + ys[i + 1]] += 1;
  });
  return tf.tensor3d(c, [B, K, K]);
}

/** F(Y) = Σ_i U(x_i, y_i) + Σ_{i<L} W(y_i, y_{i+1}) on prepared inputs: [B]. Call inside tidy. */
function scoreCore(p: Prepared, labels: readonly (readonly number[])[]): tf.Tensor1D {
  const unaryPart = tf.sum(tf.where(oneHotMask(labels, p), p.unary, tf.zerosLike(p.unary)), [1, 2]); // [B]
  const pairPart = tf.sum(tf.mul(transitionCounts(labels, p.B, p.K), p.pairwise), [1, 2]); // [B]
  return tf.add(unaryPart, pairPart) as tf.Tensor1D;
}

/**
 * F(Y) per sequence (§2): [B]. Differentiable w.r.t. unary and pairwise (one-hot masks and
 * transition counts are built from the labels, i.e. from data; no gather). With `options.allowed`
 * a forbidden transition contributes FORBIDDEN_SCORE.
 */
export function score(unary: tf.Tensor3D, pairwise: tf.Tensor2D, labels: number[][], lengths: number[], options: ChainOptions = {}): tf.Tensor1D {
  return tf.tidy(() => {
    const p = prepare(unary, pairwise, lengths, options);
    if (options.validate !== false) checkLabels(labels, lengths, p);
    return scoreCore(p, labels);
  });
}

// ---------------------------------------------------------------------------------------------
// Max-sum (Viterbi), plain JS.

/** Hamming Δ(Y', Y) = (1/L) Σ_i [y'_i ≠ y_i] (ssvm, eq. 6). */
function hamming(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d / a.length;
}

/**
 * Viterbi on flat arrays u [B·T·K] and w [K·K] (already constrained):
 *   δ_0(k) = U_0(k) + a_0(k),   δ_t(j) = U_t(j) + a_t(j) + max_i (δ_{t−1}(i) + W(i, j)),
 * with a_t(k) = [k ≠ y_t]/L for loss-augmented decoding (Δ's per-position terms) and 0 otherwise.
 * Ties go to the smallest label index. (native/sps_crf.c's seq_viterbi is the same loop.)
 */
function viterbiLabels(
  u: ArrayLike<number>,
  w: ArrayLike<number>,
  lengths: readonly number[],
  T: number,
  K: number,
  gold?: readonly (readonly number[])[],
): number[][] {
  const labels: number[][] = [];
  let delta = new Float64Array(K);
  let prev = new Float64Array(K);
  for (let b = 0; b < lengths.length; b++) {
    const L = lengths[b];
    const y = gold?.[b];
    const aug = (t: number, k: number): number => (y !== undefined && k !== y[t] ? 1 / L : 0);
    const back = new Int32Array(L * K);
    const base = b * T * K;
    for (let k = 0; k < K; k++) delta[k] = u[base + k] + aug(0, k);
    for (let t = 1; t < L; t++) {
      [prev, delta] = [delta, prev];
      for (let j = 0; j < K; j++) {
        let best = -Infinity;
        let arg = 0;
        for (let i = 0; i < K; i++) {
          const v = prev[i] + w[i * K + j];
          if (v > best) {
            best = v;
            arg = i;
          }
        }
        delta[j] = best + u[base + t * K + j] + aug(t, j);
        back[t * K + j] = arg;
      }
    }
    let last = 0;
    for (let k = 1; k < K; k++) if (delta[k] > delta[last]) last = k;
    const ys = new Array<number>(L);
    ys[L - 1] = last;
    for (let t = L - 1; t > 0; t--) ys[t - 1] = back[t * K + ys[t]];
    labels.push(ys);
  }
  return labels;
}

/**
 * The result of decoding `labels`: F(Y*) recomputed from the potentials rather than read off δ, so
 * it is exactly the score, and with `gold` also F(Y*) + Δ(Y*, Y).
 */
function viterbiResult(
  u: ArrayLike<number>,
  w: ArrayLike<number>,
  labels: number[][],
  T: number,
  K: number,
  gold?: readonly (readonly number[])[],
): ViterbiResult {
  const scores = labels.map((ys, b) => {
    let f = 0;
    for (let t = 0; t < ys.length; t++) f += u[b * T * K + t * K + ys[t]] + (t > 0 ? w[ys[t - 1] * K + ys[t]] : 0);
    return f;
  });
  return gold ? { labels, scores, augmentedScores: scores.map((f, b) => f + hamming(labels[b], gold[b])) } : { labels, scores };
}

/**
 * MAP labelling argmax_Y F(Y) of each sequence (max-sum), or with `options.lossAugment` the
 * loss-augmented argmax_Y F(Y) + Δ(Y, Y_gold). Reads the potentials from the back end (a sync); on a
 * back end with the fused chain kernels the decoding itself is one native call.
 */
export function viterbi(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: number[], options: ViterbiOptions = {}): ViterbiResult {
  const check = options.validate !== false;
  const dims = check ? checkPotentials(unary, pairwise) : { B: unary.shape[0], T: unary.shape[1], K: unary.shape[2] };
  if (check) {
    checkLengths(lengths, dims);
    checkAllowed(options.allowed, dims.K);
    if (options.lossAugment !== undefined) checkLabels(options.lossAugment.labels, lengths, dims, 'lossAugment.labels');
  }
  const u = unary.dataSync();
  const w = effectivePairwiseArray(pairwise.dataSync() as Float32Array, dims.K, options.allowed);
  if (check) {
    // The potentials are on the JS side already: the finiteness check is a loop, not a tensor read.
    const { T, K } = dims;
    lengths.forEach((L, b) => {
      for (let i = b * T * K; i < (b * T + L) * K; i++)
        if (!Number.isFinite(u[i])) throw new CrfInputError('unary', 'contains NaN or ±Infinity at a position t < length');
    });
    if (!w.every(Number.isFinite)) throw new CrfInputError('pairwise', 'contains NaN or ±Infinity');
  }
  const gold = options.lossAugment?.labels;
  const labels = fusedViterbi(unary, pairwise, lengths, dims, options, gold) ?? viterbiLabels(u, w, lengths, dims.T, dims.K, gold);
  return viterbiResult(u, w, labels, dims.T, dims.K, gold);
}

/** Loss-augmented Viterbi: argmax_{Y'} F(Y') + Δ(Y', Y) with Hamming Δ / L (ssvm, eq. 6). */
export function lossAugmentedViterbi(
  unary: tf.Tensor3D,
  pairwise: tf.Tensor2D,
  labels: number[][],
  lengths: number[],
  options: ChainOptions = {},
): ViterbiResult {
  return viterbi(unary, pairwise, lengths, { ...options, lossAugment: { labels } });
}

/** Per-position argmax of a [B, T, K] marginal tensor: max-marginal decoding (the alternative to MAP). */
export function decodeMarginals(marginalsTensor: tf.Tensor3D, lengths: number[]): number[][] {
  const [B, T, K] = marginalsTensor.shape;
  checkLengths(lengths, { B, T, K });
  const m = marginalsTensor.dataSync();
  return lengths.map((L, b) =>
    Array.from({ length: L }, (_, t) => {
      let best = 0;
      for (let k = 1; k < K; k++) if (m[(b * T + t) * K + k] > m[(b * T + t) * K + best]) best = k;
      return best;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Losses (§2), one value per sequence.

/** −(1/L) Σ_i log p_i(y_i) for a [B, T, K] log-probability tensor (0 at padding). */
function crossEntropyOf(
  logp: tf.Tensor3D,
  labels: readonly (readonly number[])[],
  lengths: readonly number[],
  p: { B: number; T: number; K: number },
): tf.Tensor1D {
  const picked = tf.sum(tf.where(oneHotMask(labels, p), logp, tf.zerosLike(logp)), [1, 2]); // [B]
  return tf.neg(tf.mul(picked, inverseLengths(lengths))) as tf.Tensor1D;
}

/**
 * The exact cross-entropy [B] on prepared potentials: the float64 custom-gradient op of
 * chain-crossentropy.ts, or, where that declines, the log-space tensor path differentiated by tfjs.
 * Call inside tidy.
 */
function crossEntropyCore(p: Prepared, labels: readonly (readonly number[])[], lengths: readonly number[]): tf.Tensor1D {
  return exactCrossEntropy(p, labels, lengths) ?? crossEntropyOf(logMarginalsCore(p, lengths), labels, lengths, p);
}

/**
 * The training loss of docs/model.md §2 (eqs. 4–7) for `objective`, one value per sequence ([B]):
 * - `log-likelihood`:   −log P(Y|X) = log Z − F(Y) (a sum over positions, not normalised by L);
 * - `cross-entropy`:    −(1/L) Σ_i log p_i(y_i|X) on the exact marginals (log-marginals used directly);
 * - `ssvm`:             max_{Y'} {F(Y') + Δ(Y', Y)} − F(Y), Hamming Δ/L; the loss-augmented maximiser
 *                       Y* is found by Viterbi (data) and the loss is F(Y*) + Δ(Y*, Y) − F(Y) as a
 *                       tensor, so its gradient is the subgradient ∂F(Y*) − ∂F(Y);
 * - `cross-entropy-mf`: the same cross-entropy on mean-field marginals (`options.meanFieldIterations`).
 * With `options.allowed`, a gold labelling that uses a forbidden transition scores FORBIDDEN_SCORE
 * for it, so its log-likelihood and ssvm losses are huge (~1e4 per forbidden transition). The
 * cross-entropies look at one position at a time and only notice when a gold label is unreachable
 * at its position. Mean field under hard constraints is harsh: a label whose allowed predecessors
 * carry little q-mass gets a message ≈ FORBIDDEN_SCORE · (1 − that mass), so cross-entropy-mf can be
 * very large on gold labellings that are allowed.
 * On a back end with the fused chain kernels (native), every objective and its gradient is one native
 * call per batch (chain-fused.ts), equal to the paths below up to float rounding; they remain for
 * other back ends, `options.fused: false`, and a call the kernel declines.
 */
export function loss(
  objective: Objective,
  unary: tf.Tensor3D,
  pairwise: tf.Tensor2D,
  labels: number[][],
  lengths: number[],
  options: LossOptions = {},
): tf.Tensor1D {
  return tf.tidy(() => {
    const dims = checkInputs(unary, pairwise, lengths, options);
    if (options.validate !== false) {
      checkLabels(labels, lengths, dims);
      checkIterations(options.meanFieldIterations);
      if (objective === 'ssvm' && options.maximiser !== undefined) checkLabels(options.maximiser, lengths, dims, 'maximiser');
    }
    const iterations = options.meanFieldIterations ?? DEFAULT_MEAN_FIELD_ITERATIONS;
    const fused = fusedObjective(objective, unary, pairwise, lengths, dims, options, {
      labels,
      maximiser: objective === 'ssvm' ? options.maximiser : undefined,
      iterations,
    });
    if (fused) return fused;
    const p = prepareChecked(unary, pairwise, lengths, dims, options.allowed);
    switch (objective) {
      case 'log-likelihood': {
        // The float64 op of chain-logpartition.ts, or the log-space tensor path where it declines.
        const logZ = exactLogPartition(p, lengths) ?? forward(p, lattice(p, lengths), lengths).logZ;
        return tf.sub(logZ, scoreCore(p, labels)) as tf.Tensor1D;
      }
      case 'cross-entropy':
        return crossEntropyCore(p, labels, lengths);
      case 'cross-entropy-mf': {
        const { logq } = meanFieldCore(p, lengths, iterations);
        return crossEntropyOf(logq, labels, lengths, p);
      }
      case 'ssvm': {
        // Decode on the prepared (padding-zeroed, constrained) potentials: the same model the loss uses.
        const star = options.maximiser ?? viterbiLabels(p.unary.dataSync(), p.pairwise.dataSync(), lengths, p.T, p.K, labels);
        const delta = tf.tensor1d(star.map((ys, b) => hamming(ys, labels[b]))); // [B], data
        return tf.add(tf.sub(scoreCore(p, star), scoreCore(p, labels)), delta) as tf.Tensor1D;
      }
      default:
        throw new CrfInputError('objective', `expected one of log-likelihood, cross-entropy, ssvm, cross-entropy-mf, got ${String(objective)}`);
    }
  });
}

/**
 * Per-position cross-entropy of the unaries alone, −(1/L) Σ_i log softmax(U_i)[y_i]: [B]. The loss of
 * the first stage of stage-wise training (§4), where the unary network is trained without the CRF.
 */
export function unaryCrossEntropy(unary: tf.Tensor3D, labels: number[][], lengths: number[], options: Pick<ChainOptions, 'validate'> = {}): tf.Tensor1D {
  return tf.tidy(() => {
    const check = options.validate !== false;
    const dims = check ? checkUnary(unary) : { B: unary.shape[0], T: unary.shape[1], K: unary.shape[2] };
    if (check) {
      checkLengths(lengths, dims);
      checkLabels(labels, lengths, dims);
    }
    const valid = validMask(lengths, dims);
    if (check) checkFinite(unary, valid);
    const u = tf.where(valid, unary, tf.zerosLike(unary)) as tf.Tensor3D;
    return crossEntropyOf(tf.logSoftmax(u) as tf.Tensor3D, labels, lengths, dims);
  });
}
