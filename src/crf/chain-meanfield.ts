/**
 * Mean-field marginals of the linear-chain CRF (docs/model.md §2, eq. 7; objective `cross-entropy-mf`).
 *
 * Mean field approximates P(Y|X) by a product Π_i q_i(y_i) and maximises the evidence lower bound
 *   ELBO(q) = Σ_i q_iᵀU_i + Σ_{i<L} q_iᵀ W q_{i+1} + Σ_i H(q_i)  (≤ log Z).
 * Its coordinate-ascent update for one position is
 *   q_i ∝ exp(U_i + q_{i−1}ᵀ W[:, ·] + W[·, :] q_{i+1}).
 * On a chain, positions of equal parity are not neighbours, so updating all even positions at once
 * and then all odd positions is exactly sequential coordinate ascent: each half-step cannot decrease
 * the ELBO, so the iteration converges monotonically. (Updating every position in parallel is not
 * coordinate ascent and can oscillate between two states on strongly coupled chains.)
 *
 * The iteration is unrolled with ordinary tfjs ops, so the loss backpropagates through every step.
 * Its cost is about a dozen ops per half-step whatever the sequence length (all positions are
 * updated by two batched matMuls and masked by parity), against about a dozen ops per *time step*
 * for forward–backward.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_MEAN_FIELD_ITERATIONS } from './defaults.js';
import { type ChainOptions, type Dims, type Prepared, checkIterations, prepare } from './validate.js';

export { DEFAULT_MEAN_FIELD_ITERATIONS };

export interface MeanFieldOptions extends ChainOptions {
  /** Mean-field iterations (even + odd half-step each); default {@link DEFAULT_MEAN_FIELD_ITERATIONS}. 0 gives softmax(U). */
  meanFieldIterations?: number;
}

/** Bool [T, B, K] (time-major) per parity p: real positions t < length with t % 2 = p. Data-built. */
function parityMasks(lengths: readonly number[], { B, T, K }: Dims): [tf.Tensor3D, tf.Tensor3D] {
  const masks = [0, 1].map((p) => {
    const m = new Uint8Array(T * B * K);
    for (let b = 0; b < B; b++) for (let t = p; t < lengths[b]; t += 2) m.fill(1, (t * B + b) * K, (t * B + b + 1) * K);
    return tf.tensor3d(m, [T, B, K], 'bool');
  });
  return [masks[0], masks[1]];
}

/**
 * Mean field on prepared inputs (padding already zeroed). Returns q and log q, both [B, T, K] and
 * exactly 0 at padding; log q is kept separately (from logSoftmax) so the cross-entropy never takes
 * the log of a probability that underflowed to 0. Works time-major ([T, B, K]) because shifting by
 * one position is then a slice of the leading axis, which is cheap on every back end. Call inside
 * tf.tidy.
 */
export function meanFieldCore(p: Prepared, lengths: readonly number[], iterations: number): { q: tf.Tensor3D; logq: tf.Tensor3D } {
  const { B, T, K } = p;
  const [even, odd] = parityMasks(lengths, p);
  const valid = tf.logicalOr(even, odd); // [T, B, K]
  const zeros = tf.zeros([T, B, K]);
  const edge = tf.zeros([1, B, K]); // q_{−1} = q_T = 0
  const u = tf.transpose(p.unary, [1, 0, 2]); // [T, B, K]
  const wt = tf.transpose(p.pairwise); // [K, K]
  // q_i = softmax(U_i) is the ELBO optimum with W = 0, the natural starting point.
  let logq = tf.where(valid, tf.logSoftmax(u), zeros) as tf.Tensor3D; // [T, B, K]
  let q = tf.where(valid, tf.exp(logq), zeros) as tf.Tensor3D; // [T, B, K], 0 at padding: padding sends no messages
  for (let it = 0; it < iterations; it++) {
    for (const mask of [even, odd]) {
      const prev = T > 1 ? tf.concat([edge, tf.slice(q, [0, 0, 0], [T - 1, B, K])], 0) : edge; // [T, B, K]: q_{t−1}
      const next = T > 1 ? tf.concat([tf.slice(q, [1, 0, 0], [T - 1, B, K]), edge], 0) : edge; // [T, B, K]: q_{t+1}
      // Σ_a q_{t−1}(a) W(a, j) + Σ_c W(j, c) q_{t+1}(c). (Two matMuls rather than one on a concat along
      // the last axis: that concat's gradient is a split the cpu back end does element by element.)
      const fromPrev = tf.matMul(tf.reshape(prev, [T * B, K]), p.pairwise); // [T·B, K]
      const fromNext = tf.matMul(tf.reshape(next, [T * B, K]), wt); // [T·B, K]
      const msg = tf.reshape(tf.add(fromPrev, fromNext), [T, B, K]); // [T, B, K]
      const newLogq = tf.logSoftmax(tf.add(u, msg)); // [T, B, K]
      logq = tf.where(mask, newLogq, logq) as tf.Tensor3D; // [T, B, K]: this parity only
      q = tf.where(mask, tf.exp(newLogq), q) as tf.Tensor3D; // [T, B, K]
    }
  }
  return { q: tf.transpose(q, [1, 0, 2]), logq: tf.transpose(logq, [1, 0, 2]) };
}

/**
 * Mean-field marginals q [B, T, K] (rows at t ≥ length are 0) after `options.meanFieldIterations`
 * parity sweeps. Differentiable w.r.t. unary and pairwise.
 */
export function meanFieldMarginals(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: number[], options: MeanFieldOptions = {}): tf.Tensor3D {
  if (options.validate !== false) checkIterations(options.meanFieldIterations);
  return tf.tidy(() => {
    const p = prepare(unary, pairwise, lengths, options);
    return meanFieldCore(p, lengths, options.meanFieldIterations ?? DEFAULT_MEAN_FIELD_ITERATIONS).q;
  });
}
