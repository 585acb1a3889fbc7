/**
 * The exact chain-CRF cross-entropy (objective `cross-entropy`, docs/model.md §2) with its gradient
 * written out in float64 plain JS, wrapped as one tfjs custom-gradient op.
 *
 * Why by hand: tfjs differentiating the log-space forward–backward tapes about a dozen ops per time
 * step; one float64 pass with hand-written adjoint messages is about 7× faster and at least as
 * accurate (docs/crf-chain.md). The tensor path in chain.ts stays as the fallback.
 */
import * as tf from '@tensorflow/tfjs';
import type { Prepared } from './validate.js';

/** E = exp(W − max W) [K·K] and the shift max W: the scaled transition weights of the float64 passes. */
export function expPairwise(w: ArrayLike<number>, KK: number): { E: Float64Array; cW: number } {
  let cW = -Infinity;
  for (let i = 0; i < KK; i++) if (w[i] > cW) cW = w[i];
  const E = new Float64Array(KK);
  for (let i = 0; i < KK; i++) E[i] = Math.exp(w[i] - cW);
  return { E, cW };
}

/**
 * One tfjs op [B] over (p.unary, p.pairwise) from a float64 pass's per-sequence values and gradients
 * (gU [B·T·K], gW [B·K·K]): the gradient scales each sequence's part by its upstream dy and sums the
 * pairwise parts over the batch in float64. Call inside tidy.
 */
export function sequenceOp(p: Prepared, res: { value: Float64Array; gU: Float64Array; gW: Float64Array }): tf.Tensor1D {
  const { B, T, K } = p;
  const KK = K * K;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    void args;
    return {
      value: tf.tensor1d(Float32Array.from(res.value)),
      gradFunc: (dy: tf.Tensor) => {
        const d = dy.dataSync();
        const gu = new Float32Array(B * T * K);
        const gw = new Float64Array(KK);
        for (let b = 0; b < B; b++) {
          const db = d[b];
          if (db === 0) continue;
          for (let i = b * T * K, e = (b + 1) * T * K; i < e; i++) gu[i] = db * res.gU[i];
          for (let i = 0; i < KK; i++) gw[i] += db * res.gW[b * KK + i];
        }
        return [tf.tensor3d(gu, [B, T, K]), tf.tensor2d(Float32Array.from(gw), [K, K])];
      },
    };
  });
  return op(p.unary, p.pairwise) as tf.Tensor1D;
}

/** Below this, a gold-label message or marginal is treated as unsafe for the float64 pass. */
const CE_TINY = 1e-250;

/**
 * −(1/L) Σ_t log p_t(y_t) per sequence and its gradient w.r.t. the (prepared) potentials, on flat
 * arrays u [B·T·K], w [K·K], in float64 by scaled forward–backward in probability space:
 *   ψ_t = exp(U_t − max U_t), E = exp(W − max W), m_t(j) = Σ_i a_{t−1}(i) E(i, j),
 *   a_t = ψ_t m_t / n_t (n_t its sum), b_{L−1} = 1, b_t(i) = Σ_j E(i, j) ψ_{t+1}(j) b_{t+1}(j) / n_{t+1},
 *   p_t(k) = a_t(k) b_t(k).
 * With g = −1/L, ℓ = Σ_t g [log A_t(y_t) + log B_t(y_t)] + log Z, so ∂ℓ = p (resp. Σ_t ξ_t) plus the
 * adjoints of the two recursions seeded at the gold labels, one sweep each ("derivative messages"):
 *   left  (t ↓): r_t = [j = y_t] g / m_t + ψ_t X_t / n_t,  ∂U_t += [j = y_t] g + a_t X_t,  X_{t−1} = E r_t,
 *   right (t ↑): Y_t = ψ_t (Eᵀ s_{t−1}) / n_t,  ∂U_t += b_t Y_t,  s_t = [j = y_t] g / b_t + Y_t,
 *   ∂W = E ⊙ Σ_t [a_{t−1} ⊗ (r_t + ψ_t b_t / n_t) + s_{t−1} ⊗ ψ_t b_t / n_t].
 * Returns null when a gold label's message or marginal is tiny (< CE_TINY) or anything is not
 * finite (e.g. an unreachable gold label under constraints): the log-space tensor path handles those.
 */
function crossEntropyArrays(
  u: ArrayLike<number>,
  w: ArrayLike<number>,
  labels: readonly (readonly number[])[],
  lengths: readonly number[],
  T: number,
  K: number,
): { loss: Float64Array; gU: Float64Array; gW: Float64Array } | null {
  const B = lengths.length;
  const KK = K * K;
  const { E } = expPairwise(w, KK);
  const loss = new Float64Array(B);
  const gU = new Float64Array(B * T * K);
  const gW = new Float64Array(B * KK);
  const psi = new Float64Array(T * K);
  const a = new Float64Array(T * K);
  const m = new Float64Array(T * K);
  const bb = new Float64Array(T * K);
  const n = new Float64Array(T);
  const P = new Float64Array(KK);
  let X = new Float64Array(K);
  let Xn = new Float64Array(K);
  const r = new Float64Array(K);
  const c = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    const L = lengths[b];
    const y = labels[b];
    const g = -1 / L;
    const base = b * T * K;
    for (let t = 0; t < L; t++) {
      const o = base + t * K;
      let mx = -Infinity;
      for (let k = 0; k < K; k++) if (u[o + k] > mx) mx = u[o + k];
      for (let k = 0; k < K; k++) psi[t * K + k] = Math.exp(u[o + k] - mx);
    }
    // Forward.
    {
      let s = 0;
      for (let k = 0; k < K; k++) s += psi[k];
      n[0] = s;
      for (let k = 0; k < K; k++) {
        m[k] = 1;
        a[k] = psi[k] / s;
      }
    }
    for (let t = 1; t < L; t++) {
      const ot = t * K;
      const op = ot - K;
      for (let j = 0; j < K; j++) m[ot + j] = 0;
      for (let i = 0; i < K; i++) {
        const ai = a[op + i];
        if (ai === 0) continue;
        const row = i * K;
        for (let j = 0; j < K; j++) m[ot + j] += ai * E[row + j];
      }
      let s = 0;
      for (let j = 0; j < K; j++) s += psi[ot + j] * m[ot + j];
      if (!(s > 0) || !Number.isFinite(s)) return null;
      n[t] = s;
      for (let j = 0; j < K; j++) a[ot + j] = (psi[ot + j] * m[ot + j]) / s;
    }
    // Backward.
    for (let k = 0; k < K; k++) bb[(L - 1) * K + k] = 1;
    for (let t = L - 2; t >= 0; t--) {
      const on = (t + 1) * K;
      for (let j = 0; j < K; j++) c[j] = (psi[on + j] * bb[on + j]) / n[t + 1];
      for (let i = 0; i < K; i++) {
        const row = i * K;
        let s = 0;
        for (let j = 0; j < K; j++) s += E[row + j] * c[j];
        bb[t * K + i] = s;
      }
    }
    // Loss and the log Z part of the gradient (the marginals).
    let ll = 0;
    for (let t = 0; t < L; t++) {
      const k = y[t];
      const pt = a[t * K + k] * bb[t * K + k];
      if (!(pt >= CE_TINY) || !(m[t * K + k] >= CE_TINY) || !(bb[t * K + k] >= CE_TINY)) return null;
      ll += Math.log(pt);
      const o = base + t * K;
      for (let j = 0; j < K; j++) gU[o + j] = a[t * K + j] * bb[t * K + j];
    }
    loss[b] = g * ll;
    P.fill(0);
    // Left sweep: adjoint of the forward recursion.
    X.fill(0);
    for (let t = L - 1; t >= 1; t--) {
      const ot = t * K;
      const o = base + ot;
      const yt = y[t];
      for (let j = 0; j < K; j++) {
        const q = psi[ot + j] / n[t];
        r[j] = q * X[j] + (j === yt ? g / m[ot + j] : 0);
        gU[o + j] += a[ot + j] * X[j] + (j === yt ? g : 0);
        c[j] = r[j] + q * bb[ot + j];
      }
      const op = ot - K;
      for (let i = 0; i < K; i++) {
        const row = i * K;
        const ai = a[op + i];
        let s = 0;
        for (let j = 0; j < K; j++) {
          s += E[row + j] * r[j];
          P[row + j] += ai * c[j];
        }
        Xn[i] = s;
      }
      [X, Xn] = [Xn, X];
    }
    for (let j = 0; j < K; j++) gU[base + j] += a[j] * X[j] + (j === y[0] ? g : 0);
    // Right sweep: adjoint of the backward recursion (s kept in X).
    const s0 = X;
    s0.fill(0);
    s0[y[0]] = g / bb[y[0]];
    let sPrev = s0;
    let sNext = Xn;
    for (let t = 1; t < L; t++) {
      const ot = t * K;
      const o = base + ot;
      r.fill(0); // r = Eᵀ s_{t−1}
      for (let i = 0; i < K; i++) {
        const si = sPrev[i];
        if (si === 0) continue;
        const row = i * K;
        for (let j = 0; j < K; j++) r[j] += si * E[row + j];
      }
      for (let j = 0; j < K; j++) {
        const q = psi[ot + j] / n[t];
        const Yj = q * r[j];
        gU[o + j] += bb[ot + j] * Yj;
        c[j] = q * bb[ot + j];
        sNext[j] = Yj + (j === y[t] ? g / bb[ot + j] : 0);
      }
      for (let i = 0; i < K; i++) {
        const si = sPrev[i];
        if (si === 0) continue;
        const row = i * K;
        for (let j = 0; j < K; j++) P[row + j] += si * c[j];
      }
      [sPrev, sNext] = [sNext, sPrev];
    }
    const ow = b * KK;
    for (let i = 0; i < KK; i++) gW[ow + i] = E[i] * P[i];
  }
  for (let i = 0; i < B; i++) if (!Number.isFinite(loss[i])) return null;
  for (let i = 0; i < gU.length; i++) if (!Number.isFinite(gU[i])) return null;
  for (let i = 0; i < gW.length; i++) if (!Number.isFinite(gW[i])) return null;
  return { loss, gU, gW };
}

/**
 * The exact cross-entropy [B] on prepared potentials as one custom-gradient op computed by
 * crossEntropyArrays, or null where that declines (the caller then takes the log-space tensor path).
 * Call inside tidy.
 */
export function exactCrossEntropy(p: Prepared, labels: readonly (readonly number[])[], lengths: readonly number[]): tf.Tensor1D | null {
  const res = crossEntropyArrays(p.unary.dataSync(), p.pairwise.dataSync(), labels, lengths, p.T, p.K);
  return res === null ? null : sequenceOp(p, { value: res.loss, gU: res.gU, gW: res.gW });
}
