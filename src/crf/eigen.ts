/**
 * The host-side eigen solver of the Gaussian CRF (./gaussian.ts): its positive-definiteness check
 * (W + λI ≻ 0 ⇔ λ > σ_max(A)², docs/model.md §3) and the offline scaling's normalisation need the
 * largest eigenvalue of the small D×D Gram matrix AᵀA of each example's embeddings, in float64.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major, float64) by cyclic Jacobi rotations.
 * Returns eigenvalues and eigenvectors (column j of `vectors`, row-major n×n, is the j-th vector).
 * Exact to float64 round-off; O(n³) per sweep, a handful of sweeps. Meant for n = D (small).
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== n * n) throw new Error(`symmetricEigen: expected ${n}×${n} = ${n * n} entries, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // Rotation P (P_pp = P_qq = c, P_pq = s, P_qp = −s) with A ← PᵀAP zeroing a_pq (Numerical Recipes §11.1).
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/** Per example: σ_max(A_b)² = λ_max(A_bᵀA_b) and its eigenvector (host, float64). */
export function topEigenOfGram(embeddings: tf.Tensor3D): { value: number; vector: Float64Array }[] {
  const [B, , D] = embeddings.shape;
  const gram = tf.tidy(() => tf.matMul(embeddings, embeddings, true, false)); // [B,L,D]ᵀ·[B,L,D] → [B,D,D]
  const data = gram.dataSync();
  gram.dispose();
  const out: { value: number; vector: Float64Array }[] = [];
  for (let b = 0; b < B; b++) {
    const { values, vectors } = symmetricEigen(data.subarray(b * D * D, (b + 1) * D * D), D);
    let j = 0;
    for (let i = 1; i < D; i++) if (values[i] > values[j]) j = i;
    const vector = new Float64Array(D);
    for (let i = 0; i < D; i++) vector[i] = vectors[i * D + j];
    out.push({ value: Math.max(values[j], 0), vector });
  }
  return out;
}

/**
 * Per example σ_max(A_b)², exactly (largest eigenvalue of A_bᵀA_b, float64 Jacobi on the host).
 * ‖W_b‖₂ (the spectral norm of the Potts W) equals this value.
 */
export function sigmaMax2(embeddings: tf.Tensor3D): number[] {
  if (!(embeddings instanceof tf.Tensor) || embeddings.rank !== 3) throw new Error(`sigmaMax2: embeddings must be a tensor of shape [B, L, D]`);
  return topEigenOfGram(embeddings).map((e) => e.value);
}
