/**
 * The chain-CRF log partition function log Z (docs/model.md §2, the log-likelihood objective's
 * eq. 4) with its gradient written out in float64 plain JS, wrapped as one tfjs custom-gradient op.
 *
 * Why by hand: the log-space tensor recursion of chain.ts costs about a dozen kernels per time step
 * forward and as many again for tfjs's backward pass; this is the same pattern as the cross-entropy
 * op (chain-crossentropy.ts) and the tensor path stays as the fallback (docs/crf-chain.md).
 *
 * Shapes: u [B·T·K] (prepared: padding zeroed, constraints already in w), w [K·K], lengths [B].
 */
import type * as tf from '@tensorflow/tfjs';
import { expPairwise, sequenceOp } from './chain-crossentropy.js';
import type { Prepared } from './validate.js';

/**
 * log Z per sequence and its gradient, by the scaled forward–backward in probability space of
 * chain-crossentropy.ts:
 *   ψ_t = exp(U_t − max U_t), E = exp(W − max W), m_t(j) = Σ_i a_{t−1}(i) E(i, j),
 *   a_0 = ψ_0 / n_0, a_t = ψ_t m_t / n_t (n_t the normaliser), b_{L−1} = 1,
 *   b_t(i) = Σ_j E(i, j) ψ_{t+1}(j) b_{t+1}(j) / n_{t+1},
 *   log Z = Σ_t log n_t + Σ_t max U_t + (L − 1) max W,
 *   ∂ log Z / ∂U_t(k) = p_t(k) = a_t(k) b_t(k),
 *   ∂ log Z / ∂W(i, j) = Σ_{t≥1} ξ_t(i, j) = Σ_{t≥1} a_{t−1}(i) E(i, j) ψ_t(j) b_t(j) / n_t.
 * Returns null when a normaliser is not a positive finite number (all the mass underflowed, e.g.
 * under hard constraints with extreme scores) or any output is not finite: the log-space tensor path
 * handles those.
 */
export function logPartitionArrays(
  u: ArrayLike<number>,
  w: ArrayLike<number>,
  lengths: readonly number[],
  T: number,
  K: number,
): { logZ: Float64Array; gU: Float64Array; gW: Float64Array } | null {
  const B = lengths.length;
  const KK = K * K;
  const { E, cW } = expPairwise(w, KK);
  const logZ = new Float64Array(B);
  const gU = new Float64Array(B * T * K);
  const gW = new Float64Array(B * KK);
  const psi = new Float64Array(T * K);
  const a = new Float64Array(T * K);
  const bb = new Float64Array(T * K);
  const n = new Float64Array(T);
  const c = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    const L = lengths[b];
    const base = b * T * K;
    let shift = (L - 1) * cW;
    for (let t = 0; t < L; t++) {
      const o = base + t * K;
      let mx = -Infinity;
      for (let k = 0; k < K; k++) if (u[o + k] > mx) mx = u[o + k];
      shift += mx;
      for (let k = 0; k < K; k++) psi[t * K + k] = Math.exp(u[o + k] - mx);
    }
    // Forward: a_t, n_t.
    let s0 = 0;
    for (let k = 0; k < K; k++) s0 += psi[k];
    n[0] = s0;
    for (let k = 0; k < K; k++) a[k] = psi[k] / s0;
    for (let t = 1; t < L; t++) {
      const ot = t * K;
      const op = ot - K;
      for (let j = 0; j < K; j++) c[j] = 0;
      for (let i = 0; i < K; i++) {
        const ai = a[op + i];
        if (ai === 0) continue;
        const row = i * K;
        for (let j = 0; j < K; j++) c[j] += ai * E[row + j];
      }
      let s = 0;
      for (let j = 0; j < K; j++) {
        c[j] *= psi[ot + j];
        s += c[j];
      }
      if (!(s > 0) || !Number.isFinite(s)) return null;
      n[t] = s;
      for (let j = 0; j < K; j++) a[ot + j] = c[j] / s;
    }
    let lz = shift;
    for (let t = 0; t < L; t++) lz += Math.log(n[t]);
    logZ[b] = lz;
    // Backward: b_t; the node marginals go straight into gU, the edge marginals into gW.
    for (let k = 0; k < K; k++) bb[(L - 1) * K + k] = 1;
    for (let t = L - 1; t >= 1; t--) {
      const ot = t * K;
      const op = ot - K;
      for (let j = 0; j < K; j++) c[j] = (psi[ot + j] * bb[ot + j]) / n[t];
      for (let i = 0; i < K; i++) {
        const row = i * K;
        const grow = b * KK + row;
        const ai = a[op + i];
        let s = 0;
        for (let j = 0; j < K; j++) {
          const x = E[row + j] * c[j];
          s += x;
          gW[grow + j] += ai * x;
        }
        bb[op + i] = s;
      }
    }
    for (let t = 0; t < L; t++) {
      const o = base + t * K;
      for (let k = 0; k < K; k++) gU[o + k] = a[t * K + k] * bb[t * K + k];
    }
  }
  for (let i = 0; i < B; i++) if (!Number.isFinite(logZ[i])) return null;
  for (let i = 0; i < gW.length; i++) if (!Number.isFinite(gW[i])) return null;
  return { logZ, gU, gW };
}

/**
 * log Z [B] on prepared potentials as one custom-gradient op computed by logPartitionArrays, or null
 * where that declines (the caller then takes the log-space tensor path). Call inside tidy.
 */
export function exactLogPartition(p: Prepared, lengths: readonly number[]): tf.Tensor1D | null {
  const res = logPartitionArrays(p.unary.dataSync(), p.pairwise.dataSync(), lengths, p.T, p.K);
  return res === null ? null : sequenceOp(p, { value: res.logZ, gU: res.gU, gW: res.gW });
}
