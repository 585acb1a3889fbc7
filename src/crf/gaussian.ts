/**
 * The Gaussian CRF of docs/model.md §3, eqs. 8–12 (binary segmentation, M = 2 classes over L pixels).
 *
 * Score F(s) = −½ sᵀ(W + λI)s + Us, maximised by s* = (W + λI)^{-1} U. The pairwise term is the
 * class-agnostic Potts form built from pixel embeddings A (L×D, one D-vector per pixel):
 *
 *     W = [[0, AAᵀ], [AAᵀ, 0]]      (2L × 2L, blocks indexed by class)
 *
 * so (W x)_1 = AAᵀ x_2 and (W x)_2 = AAᵀ x_1: W swaps the two class rows and applies AAᵀ to each.
 * AAᵀ (L×L) is never formed: it is applied as A(Aᵀx), two batched matMuls through D.
 *
 * Layout: unary U and scores s are [B, M, L] (batch, class, pixel); embeddings A are [B, L, D];
 * labels and masks are [B, L]. Pixels are any flattening of the image (row-major by convention).
 *
 * Positive definiteness (needed for CG and for s* to be a maximum): the eigenvalues of W are
 * ±eig(AAᵀ) (for an eigenpair AAᵀv = μv, W[v; ±v] = ±μ[v; ±v]), so W + λI ≻ 0 ⇔ λ > ‖AAᵀ‖₂ = σ_max(A)².
 * It is CHECKED on every solve, per example: first with the cheap bound σ_max(A)² ≤ ‖A‖_F²; when
 * that bound is not below λ, exactly, as the largest eigenvalue of AᵀA (D×D, small) by a float64
 * Jacobi eigensolver on the host. λ ≤ σ_max(A)² raises an Error. It can be GUARANTEED by construction
 * with {@link normalizeEmbeddings}, which rescales A so that σ_max(A)² ≤ margin·λ (differentiably).
 *
 * Gradient (wrapped in tf.customGrad, docs/model.md §3): with g = (W + λI)^{-1} ∂L/∂s* (a second CG
 * solve; W + λI is symmetric), ∂L/∂U = g and ∂L/∂W = −g s*ᵀ. Since both off-diagonal blocks of W are
 * K = AAᵀ, ∂L/∂K = −(g₁s₂ᵀ + g₂s₁ᵀ) =: G, and dK = dA Aᵀ + A dAᵀ gives ∂L/∂A = (G + Gᵀ)A
 * = −[g₁(s₂ᵀA) + g₂(s₁ᵀA) + s₂(g₁ᵀA) + s₁(g₂ᵀA)]: rank-one [L]×[D] products, no L×L matrix.
 */
import * as tf from '@tensorflow/tfjs';
import { CgError, conjugateGradient, float32PrecisionFloor, resolveCgOptions, type CgOptions, type CgStats } from './cg.js';
import { sigmaMax2, topEigenOfGram } from './eigen.js';
import { norm, offlineNormalizeEmbeddings, safeSqrt, SCALING_EPSILON, type NormKind, type NormOver } from './scaling.js';

export { CgError, type CgOptions, type CgStats } from './cg.js';
export { sigmaMax2, symmetricEigen } from './eigen.js';

/** Number of classes of the Potts form implemented here. */
export const GAUSSIAN_CLASSES = 2;
/** Default margin of {@link normalizeEmbeddings}: σ_max(A)² ≤ ½λ ⇒ cond(W + λI) ≤ (1 + ½)/(1 − ½) = 3. */
export const DEFAULT_PD_MARGIN = 0.5;

export interface SolveStats extends CgStats {
  /**
   * The value max_b σ_max(A_b)² was checked against λ with: exact where the Frobenius bound
   * ‖A_b‖_F² was not already below λ, else that bound (so always ≥ the true value, up to rounding).
   */
  sigmaMax2Bound: number;
}

export interface SolveOptions extends CgOptions {
  /**
   * Valid pixels, [B, L], 1 = pixel exists, 0 = padding (values must be 0 or 1). Padded pixels are
   * cut out of the model: their unaries and embedding rows are zeroed before the solve, so they do
   * not couple to any pixel and get s* = 0; the valid pixels' s* equals that of the unpadded image.
   */
  mask?: tf.Tensor2D | number[][];
  /** Receives the forward CG statistics (solve() also returns them). */
  onForward?: (stats: SolveStats) => void;
  /** Receives the statistics of the backward CG solve, when a gradient is taken. */
  onBackward?: (stats: CgStats) => void;
}

export interface SolveResult extends SolveStats {
  /** s* = (W + λI)^{-1} U, [B, M, L]. */
  s: tf.Tensor3D;
}

// ---------------------------------------------------------------------------------------------
// Validation

function describeShape(t: tf.Tensor): string {
  return `[${t.shape.join(', ')}] (${t.dtype})`;
}

function assertLambda(lambda: number, where: string): void {
  if (!(typeof lambda === 'number' && Number.isFinite(lambda) && lambda > 0)) {
    throw new Error(`${where}: lambda must be a finite number > 0 (W + λI must be positive definite), got ${lambda}`);
  }
}

function assertUnaryAndEmbeddings(unary: tf.Tensor, embeddings: tf.Tensor, where: string): { B: number; L: number; D: number } {
  if (!(unary instanceof tf.Tensor) || unary.rank !== 3 || unary.dtype !== 'float32') {
    throw new Error(`${where}: unary must be a float32 tensor of shape [B, M=2, L], got ${unary instanceof tf.Tensor ? describeShape(unary) : typeof unary}`);
  }
  const [B, M, L] = unary.shape;
  if (M !== GAUSSIAN_CLASSES) {
    throw new Error(
      `${where}: unary must have shape [B, M=2, L] (the Potts form W = [[0, AAᵀ], [AAᵀ, 0]] is defined for M = 2 classes), got M = ${M} in shape [${unary.shape.join(', ')}]`,
    );
  }
  if (B < 1 || L < 1) throw new Error(`${where}: unary must have B >= 1 and L >= 1, got shape [${unary.shape.join(', ')}]`);
  if (!(embeddings instanceof tf.Tensor) || embeddings.rank !== 3 || embeddings.dtype !== 'float32') {
    throw new Error(
      `${where}: embeddings must be a float32 tensor of shape [B, L, D], got ${embeddings instanceof tf.Tensor ? describeShape(embeddings) : typeof embeddings}`,
    );
  }
  const [Be, Le, D] = embeddings.shape;
  if (Be !== B || Le !== L || D < 1) {
    throw new Error(
      `${where}: embeddings must have shape [B=${B}, L=${L}, D>=1] to match unary [${unary.shape.join(', ')}], got [${embeddings.shape.join(', ')}]`,
    );
  }
  return { B, L, D };
}

function toMask(mask: tf.Tensor2D | number[][], B: number, L: number, where: string): tf.Tensor2D {
  const t = mask instanceof tf.Tensor ? tf.cast(mask, 'float32') : tf.tensor2d(mask, undefined, 'float32');
  if (t.rank !== 2 || t.shape[0] !== B || t.shape[1] !== L) {
    const shape = t.shape;
    t.dispose();
    throw new Error(`${where}: mask must have shape [B=${B}, L=${L}], got [${shape.join(', ')}]`);
  }
  return t as tf.Tensor2D;
}

// ---------------------------------------------------------------------------------------------
// Linear algebra

/** (W + λI) x for x [B, 2, L], A [B, L, D], At = Aᵀ [B, D, L] → [B, 2, L]. */
function applySystem(x: tf.Tensor, A: tf.Tensor, At: tf.Tensor, lambda: number): tf.Tensor {
  // W x = swap-classes(x) then AAᵀ per class; as row vectors: (x_swapᵀ A) Aᵀ.
  const xA = tf.matMul(tf.reverse(x, 1) as tf.Tensor3D, A as tf.Tensor3D); // [B,2,L]·[B,L,D] → [B,2,D]
  const Wx = tf.matMul(xA, At as tf.Tensor3D); // [B,2,D]·[B,D,L] → [B,2,L]
  return tf.add(tf.mul(x, lambda), Wx); // [B,2,L]
}

/**
 * (W + λI) x computed matrix-free, for tests and diagnostics. x [B, 2, L], embeddings [B, L, D].
 */
export function applyPotts(x: tf.Tensor3D, embeddings: tf.Tensor3D, lambda: number): tf.Tensor3D {
  assertUnaryAndEmbeddings(x, embeddings, 'applyPotts');
  return tf.tidy(() => applySystem(x, embeddings, tf.transpose(embeddings, [0, 2, 1]), lambda) as tf.Tensor3D);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x);
}

/**
 * One host read for validation and the cheap PD bound: per example ‖A_b‖_F², Σ U_b² and, with a mask,
 * the number of mask entries that are neither 0 nor 1. Throws on non-finite input, bad mask, λ ≤ σ².
 * Returns the σ_max² bound used (max over the batch).
 */
function checkInputs(U: tf.Tensor3D, A: tf.Tensor3D, mask: tf.Tensor2D | null, lambda: number, where: string): number {
  const B = U.shape[0];
  const probe = tf.tidy(() => {
    const parts: tf.Tensor[] = [tf.sum(tf.square(A), [1, 2]), tf.sum(tf.square(U), [1, 2])]; // [B], [B]
    if (mask !== null) parts.push(tf.reshape(tf.sum(tf.cast(tf.notEqual(tf.mul(mask, tf.sub(1, mask)), 0), 'float32')), [1])); // [1]
    return tf.concat(parts);
  });
  const v = probe.dataSync();
  probe.dispose();
  for (let b = 0; b < B; b++) {
    if (!Number.isFinite(v[B + b]))
      throw new Error(`${where}: unary of batch element ${b} contains non-finite values (or values beyond ~1e19 whose squares overflow float32)`);
    if (!Number.isFinite(v[b]))
      throw new Error(`${where}: embeddings of batch element ${b} contain non-finite values (or values beyond ~1e19 whose squares overflow float32)`);
  }
  if (mask !== null && v[2 * B] !== 0) throw new Error(`${where}: mask must contain only 0 (padding) and 1 (valid pixel); ${v[2 * B]} entries are neither`);
  const bound = Array.from(v.subarray(0, B));
  const inconclusive = bound.some((f) => !(f < lambda));
  if (inconclusive) {
    // ‖A‖_F² ≥ λ somewhere: decide exactly with λ_max(AᵀA) (D×D) for the whole batch (one read).
    const exact = sigmaMax2(A);
    for (let b = 0; b < B; b++) {
      if (!(exact[b] < lambda)) {
        throw new Error(
          `${where}: W + λI is not positive definite for batch element ${b}: lambda = ${fmt(lambda)} but σ_max(A)² = ${fmt(exact[b])} ` +
            `(the eigenvalues of W are ±eig(AAᵀ), so W + λI ≻ 0 needs lambda > σ_max(A)²). ` +
            `Raise lambda above ${fmt(exact[b])}, or rescale the embeddings, e.g. normalizeEmbeddings(A, lambda, { margin: ${DEFAULT_PD_MARGIN} }).`,
        );
      }
      bound[b] = exact[b];
    }
  }
  return Math.max(...bound);
}

function conditionBound(lambda: number, sigma2: number): number {
  return (lambda + sigma2) / (lambda - sigma2);
}

/** Runs CG on (W + λI) x = rhs and turns a CgError into one that names the CRF's numbers. */
function solveSystem(
  rhs: tf.Tensor,
  A: tf.Tensor,
  lambda: number,
  cg: Required<CgOptions>,
  sigma2: number,
  phase: 'forward' | 'backward',
): { x: tf.Tensor } & CgStats {
  const At = tf.transpose(A, [0, 2, 1]); // [B,D,L], once per solve, so the loop multiplies without transposes
  const kappa = conditionBound(lambda, sigma2);
  try {
    // The condition bound sets the float32 floor at which a stalled solve is accepted (cg.ts).
    return conjugateGradient((x) => applySystem(x, A, At, lambda), rhs, cg, kappa);
  } catch (e) {
    if (e instanceof CgError) {
      const what =
        e.failure === 'max-iterations'
          ? `did not converge: after ${e.iterations} iterations (maxIterations = ${cg.maxIterations}) the relative residual is ${fmt(e.residual)} > tolerance ${fmt(cg.tolerance)}`
          : e.failure === 'stagnated'
            ? `stagnated: after ${e.iterations} iterations the best relative residual is ${fmt(e.residual)} > tolerance ${fmt(cg.tolerance)}, above the float32 floor ${fmt(float32PrecisionFloor(kappa))} expected for this system`
            : e.message;
      const advice = e.failure === 'stagnated' ? `Raise the tolerance above ${fmt(e.residual)}` : 'Raise maxIterations or tolerance';
      throw new CgError(
        `Gaussian CRF ${phase} solve ${what}; lambda = ${fmt(lambda)}, σ_max(A)² ≤ ${fmt(sigma2)}, condition number of W + λI ≤ ${fmt(kappa)}. ` +
          `${advice}, or improve the conditioning: raise lambda or normalise the embeddings (normalizeEmbeddings).`,
        e.failure,
        e.iterations,
        e.residual,
        e.tolerance,
      );
    }
    throw e;
  } finally {
    At.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * s* = (W + λI)^{-1} U for U [B, 2, L] and the Potts W of embeddings A [B, L, D], by batched
 * conjugate gradient, differentiable in U and A (tf.customGrad; the backward pass is a second CG
 * solve, see the file comment). The iteration count and true relative residual of the forward solve
 * are returned next to s (and passed to options.onForward); the backward solve's go to
 * options.onBackward, since a gradient is computed long after solve() returned.
 *
 * Tolerance: relative, max_b ‖U_b − (W + λI)s_b‖/‖U_b‖ ≤ tolerance (default 1e-4), checked on the true
 * residual. A tolerance below what float32 can reach for this system (about ε·cond(W + λI)) is
 * clamped: CG stops when it stagnates and returns its best iterate, with `precisionLimited: true`
 * and the clamped `tolerance` in the stats (cg.ts). Non-convergence within maxIterations (default
 * 500) or stagnation above that floor, non-finite input, λ ≤ 0, bad shapes and λ ≤ σ_max(A)² all
 * throw.
 * The caller owns the returned s.
 */
export function solve(unary: tf.Tensor3D, embeddings: tf.Tensor3D, lambda: number, options: SolveOptions = {}): SolveResult {
  const where = 'gaussian.solve';
  const { B, L } = assertUnaryAndEmbeddings(unary, embeddings, where);
  assertLambda(lambda, where);
  const cg = resolveCgOptions(options);
  const stats: SolveStats = { iterations: 0, residual: NaN, restarts: 0, tolerance: cg.tolerance, precisionLimited: false, sigmaMax2Bound: NaN };
  const s = tf.tidy(() => {
    const mask = options.mask === undefined ? null : toMask(options.mask, B, L, where);
    // Padding is cut out of the graph: zero unaries and zero embedding rows (no coupling).
    const U = mask === null ? unary : (tf.mul(unary, tf.expandDims(mask, 1)) as tf.Tensor3D); // [B,2,L]·[B,1,L]
    const A = mask === null ? embeddings : (tf.mul(embeddings, tf.expandDims(mask, 2)) as tf.Tensor3D); // [B,L,D]·[B,L,1]

    // customGrad's declared signature is variadic: (U, A, save). Its forward function runs untaped
    // (tfjs records no tape nodes inside it), so the validation reads happen there too: nothing is
    // kept for backprop by ops that an early error would strand.
    let sigma2 = NaN;
    const potts = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [u, a, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
      sigma2 = checkInputs(u, a, mask, lambda, where);
      stats.sigmaMax2Bound = sigma2;
      const fwd = solveSystem(u, a, lambda, cg, sigma2, 'forward');
      stats.iterations = fwd.iterations;
      stats.residual = fwd.residual;
      stats.restarts = fwd.restarts;
      stats.tolerance = fwd.tolerance;
      stats.precisionLimited = fwd.precisionLimited;
      save([a, fwd.x]);
      return {
        value: fwd.x as tf.Tensor3D,
        gradFunc: (dS: tf.Tensor3D, saved: tf.Tensor[]) => {
          const [aS, sStar] = saved; // [B,L,D], [B,2,L]; dS = ∂L/∂s*, [B,2,L]
          const bwd = solveSystem(dS, aS, lambda, cg, sigma2, 'backward'); // g = (W + λI)^{-1} ∂L/∂s*
          options.onBackward?.({
            iterations: bwd.iterations,
            residual: bwd.residual,
            restarts: bwd.restarts,
            tolerance: bwd.tolerance,
            precisionLimited: bwd.precisionLimited,
          });
          const g = bwd.x; // [B,2,L]
          const dA = tf.tidy(() => {
            const sSwap = tf.reverse(sStar, 1); // [B,2,L]: rows (s₂, s₁)
            const sA = tf.matMul(sSwap as tf.Tensor3D, aS as tf.Tensor3D); // [B,2,D]: (s₂ᵀA, s₁ᵀA)
            const gA = tf.matMul(g as tf.Tensor3D, aS as tf.Tensor3D); // [B,2,D]: (g₁ᵀA, g₂ᵀA)
            // Σ_k left_k ⊗ right_k over the 4 rows: g₁(s₂ᵀA) + g₂(s₁ᵀA) + s₂(g₁ᵀA) + s₁(g₂ᵀA).
            const left = tf.concat([g, sSwap], 1); // [B,4,L]
            const right = tf.concat([sA, gA], 1); // [B,4,D]
            return tf.neg(tf.matMul(left as tf.Tensor3D, right as tf.Tensor3D, true, false)); // [B,L,4]·[B,4,D] → [B,L,D]
          });
          return [g, dA]; // ∂L/∂U = g, ∂L/∂A
        },
      };
    });
    return potts(U, A) as tf.Tensor3D;
  });
  options.onForward?.({ ...stats });
  return { s, ...stats };
}

/** Marginals p_j(y_j|X) = softmax over the classes (axis 1) of s*: [B, M, L] → [B, M, L]. */
export function marginals(s: tf.Tensor3D): tf.Tensor3D {
  if (!(s instanceof tf.Tensor) || s.rank !== 3) throw new Error(`gaussian.marginals: s must be a tensor of shape [B, M, L]`);
  // tf.softmax works on the last axis only; exp(s − logΣexp s) is the max-shifted softmax on axis 1.
  return tf.tidy(() => tf.exp(tf.sub(s, tf.logSumExp(s, 1, true))) as tf.Tensor3D);
}

/** Prediction ŷ_j = argmax_k s*_{k,j}: [B, M, L] → int32 [B, L]. */
export function predict(s: tf.Tensor3D): tf.Tensor2D {
  if (!(s instanceof tf.Tensor) || s.rank !== 3) throw new Error(`gaussian.predict: s must be a tensor of shape [B, M, L]`);
  return tf.argMax(s, 1) as tf.Tensor2D;
}

/**
 * Cross-entropy of the softmax marginals of s* against the labels, per image (docs/model.md §3: eq. 5
 * over pixels): L_b = −(1/|V_b|) Σ_{j∈V_b} log softmax(s*_{:,j})[y_j], V_b = the valid pixels (all
 * pixels without a mask). A MEAN over pixels, so images of different sizes weigh the same and
 * the loss scale does not depend on the resolution; an image with no valid pixel has loss 0.
 * labels: [B, L] class indices in {0, 1} (int32 tensor or nested array); labels of masked pixels
 * are ignored (any value, e.g. 255 for "void"). The mask also cuts padding out of the solve (see
 * {@link SolveOptions.mask}). Returns [B]; average it over the batch yourself.
 */
export function loss(unary: tf.Tensor3D, embeddings: tf.Tensor3D, labels: tf.Tensor2D | number[][], lambda: number, options: SolveOptions = {}): tf.Tensor1D {
  const where = 'gaussian.loss';
  const { B, L } = assertUnaryAndEmbeddings(unary, embeddings, where);
  assertLambda(lambda, where);
  return tf.tidy(() => {
    const y = labels instanceof tf.Tensor ? labels : tf.tensor2d(labels, undefined, 'int32');
    if (y.rank !== 2 || y.shape[0] !== B || y.shape[1] !== L) throw new Error(`${where}: labels must have shape [B=${B}, L=${L}], got [${y.shape.join(', ')}]`);
    if (y.dtype !== 'int32') throw new Error(`${where}: labels must be an int32 tensor (class indices), got ${y.dtype}`);
    const mask = options.mask === undefined ? tf.ones([B, L], 'float32') : toMask(options.mask, B, L, where); // [B,L]
    // Labels must be 0 or 1 where they count (tf.oneHot would silently map others to a zero row).
    const bad = tf.sum(tf.mul(mask, tf.cast(tf.logicalOr(tf.less(y, 0), tf.greaterEqual(y, GAUSSIAN_CLASSES)), 'float32'))).dataSync()[0];
    if (bad !== 0) throw new Error(`${where}: labels must be class indices 0 or 1 on valid pixels; ${bad} valid pixels have other values`);
    const { s } = solve(unary, embeddings, lambda, options); // [B,2,L]
    const onehot = tf.transpose(tf.oneHot(tf.clipByValue(y, 0, GAUSSIAN_CLASSES - 1), GAUSSIAN_CLASSES), [0, 2, 1]); // [B,L,2] → [B,2,L]
    const nll = tf.sub(tf.logSumExp(s, 1), tf.sum(tf.mul(s, onehot), 1)); // [B,L]: log Σ_k e^{s_k} − s_y
    const count = tf.sum(mask, 1); // [B]
    return tf.div(tf.sum(tf.mul(nll, mask), 1), tf.maximum(count, 1)) as tf.Tensor1D; // [B]
  });
}

export type PairwiseNormKind = NormKind;

/**
 * ‖W‖ of the Potts W = [[0, AAᵀ], [AAᵀ, 0]] (per example [B] or for the batch, a scalar) without
 * forming any L×L matrix. With n_b = the number of valid pixels:
 * - `frobenius`: ‖W‖_F = √2·‖AAᵀ‖_F = √2·‖AᵀA‖_F (AᵀA is D×D); batch: √(Σ_b ‖W_b‖_F²).
 * - `rms`: root-mean-square entry of the 2n×2n matrix W, zero blocks included: ‖W‖_F / (2n);
 *   batch: √(Σ_b ‖W_b‖_F² / Σ_b 4n_b²) (pooled, like scaling.norm's rms).
 * - `max`: max_ij |W_ij| = max_ij |a_i·a_j| = max_i ‖a_i‖², exactly: by Cauchy–Schwarz
 *   |a_i·a_j| ≤ ‖a_i‖‖a_j‖ ≤ max_i ‖a_i‖², and the diagonal of AAᵀ attains it. Batch: max over b.
 * The same conventions as scaling.norm, so ‖U‖ and ‖W‖ measure alike. Differentiable in A.
 * mask: [B, L] valid pixels (padded rows of A do not count).
 */
export function pairwiseNorm(
  embeddings: tf.Tensor3D,
  kind: PairwiseNormKind,
  options: { mask?: tf.Tensor2D | number[][]; perExample?: boolean } = {},
): tf.Tensor {
  const where = 'gaussian.pairwiseNorm';
  if (!(embeddings instanceof tf.Tensor) || embeddings.rank !== 3 || embeddings.dtype !== 'float32') {
    throw new Error(
      `${where}: embeddings must be a float32 tensor of shape [B, L, D], got ${embeddings instanceof tf.Tensor ? describeShape(embeddings) : typeof embeddings}`,
    );
  }
  if (!['frobenius', 'rms', 'max'].includes(kind)) throw new Error(`${where}: kind must be one of frobenius, rms, max, got '${kind}'`);
  const [B, L] = embeddings.shape;
  const perExample = options.perExample ?? false;
  return tf.tidy(() => {
    const mask = options.mask === undefined ? null : toMask(options.mask, B, L, where);
    const A = mask === null ? embeddings : tf.mul(embeddings, tf.expandDims(mask, 2)); // [B,L,D]
    if (kind === 'max') {
      const rowNorm2 = tf.sum(tf.square(A), 2); // [B,L]: ‖a_i‖² = (AAᵀ)_ii
      return perExample ? tf.max(rowNorm2, 1) : tf.max(rowNorm2);
    }
    const gram = tf.matMul(A as tf.Tensor3D, A as tf.Tensor3D, true, false); // [B,D,D]: AᵀA
    const w2 = tf.mul(tf.sum(tf.square(gram), [1, 2]), 2); // [B]: ‖W_b‖_F² = 2‖AᵀA‖_F²
    if (kind === 'frobenius') return perExample ? safeSqrt(w2) : safeSqrt(tf.sum(w2));
    const n = mask === null ? tf.fill([B], L) : tf.sum(mask, 1); // [B] valid pixels
    const entries = tf.mul(tf.square(n), 4); // [B]: (2n)² entries of W_b
    return perExample ? safeSqrt(tf.div(w2, tf.maximum(entries, 1))) : safeSqrt(tf.div(tf.sum(w2), tf.maximum(tf.sum(entries), 1)));
  });
}

export interface NormalizeEmbeddingsOptions {
  /** Target σ_max(A)² ≤ margin·λ, 0 < margin < 1. Default 0.5 (cond(W + λI) ≤ 3). */
  margin?: number;
  /**
   * How σ_max(A)² is measured. `frobenius` (default): by its upper bound ‖A‖_F², cheap and all on
   * device; it may shrink A more than needed (by up to a factor rank(A)). `spectral`: exactly, as
   * ‖A v‖² with v the top eigenvector of AᵀA from the host eigensolver, held constant in the
   * gradient (d λ_max = vᵀ d(AᵀA) v for a simple top eigenvalue, so the gradient is exact); one
   * host read of B·D² floats per call.
   */
  bound?: 'frobenius' | 'spectral';
  /** [B, L] valid pixels; padded rows are zeroed in the result. */
  mask?: tf.Tensor2D | number[][];
}

/**
 * Rescales each example's embeddings, Â_b = c_b·A_b with c_b = min(1, √(margin·λ / β_b)), β_b the
 * chosen bound of σ_max(A_b)², so that σ_max(Â_b)² ≤ margin·λ < λ: W + λI is then positive definite
 * by construction, with condition number ≤ (1 + margin)/(1 − margin). Embeddings already inside the
 * margin are returned unchanged (c_b = 1). Differentiable (piecewise; the gradient flows through c_b).
 */
export function normalizeEmbeddings(embeddings: tf.Tensor3D, lambda: number, options: NormalizeEmbeddingsOptions = {}): tf.Tensor3D {
  const where = 'gaussian.normalizeEmbeddings';
  if (!(embeddings instanceof tf.Tensor) || embeddings.rank !== 3 || embeddings.dtype !== 'float32') {
    throw new Error(
      `${where}: embeddings must be a float32 tensor of shape [B, L, D], got ${embeddings instanceof tf.Tensor ? describeShape(embeddings) : typeof embeddings}`,
    );
  }
  assertLambda(lambda, where);
  const margin = options.margin ?? DEFAULT_PD_MARGIN;
  if (!(Number.isFinite(margin) && margin > 0 && margin < 1)) throw new Error(`${where}: margin must be in (0, 1), got ${margin}`);
  const bound = options.bound ?? 'frobenius';
  if (bound !== 'frobenius' && bound !== 'spectral') throw new Error(`${where}: bound must be 'frobenius' or 'spectral', got '${bound}'`);
  const [B, L, D] = embeddings.shape;
  return tf.tidy(() => {
    const mask = options.mask === undefined ? null : toMask(options.mask, B, L, where);
    const A = mask === null ? embeddings : (tf.mul(embeddings, tf.expandDims(mask, 2)) as tf.Tensor3D); // [B,L,D]
    let beta: tf.Tensor; // [B], bound of σ_max(A_b)²
    if (bound === 'frobenius') {
      beta = tf.sum(tf.square(A), [1, 2]);
    } else {
      const tops = topEigenOfGram(A);
      const v = tf.tensor3d(
        tops.flatMap((e) => Array.from(e.vector)),
        [B, D, 1],
        'float32',
      ); // [B,D,1], a constant
      beta = tf.sum(tf.square(tf.matMul(A, v)), [1, 2]); // ‖A_b v_b‖² = v_bᵀA_bᵀA_b v_b = σ_max(A_b)²
    }
    const target = margin * lambda;
    // The floor keeps target/β finite (and its gradient finite) for A ≈ 0; there c_b = 1 anyway.
    const c = tf.minimum(1, tf.sqrt(tf.div(target, tf.maximum(beta, target * 1e-6)))); // [B]
    return tf.mul(A, tf.reshape(c, [B, 1, 1])) as tf.Tensor3D;
  });
}

export interface OfflineNormalizeGaussianOptions {
  alpha: number;
  kind: NormKind;
  over: NormOver;
  /** [B, L] valid pixels. */
  mask?: tf.Tensor2D | number[][];
  epsilon?: number;
}

/**
 * Offline scaling (docs/model.md §4) for the Gaussian CRF: Û = α·U/(‖U‖+ε) and Â = A/√(‖W‖+ε), which
 * makes ‖Ŵ‖ = ‖W(Â)‖ = 1 because W is quadratic in A. Norms per example or per batch, padding
 * excluded. Note: after it, PD needs λ > σ_max(Â)² which for `frobenius` is ≤ ‖ÂÂᵀ‖_F = 1/√2, so
 * λ ≥ 1 is always safe; for `rms` and `max`, σ_max(Â)² can reach ~2n resp. n (n valid pixels), so rely
 * on the check in solve() or follow with normalizeEmbeddings.
 */
export function offlineNormalizeGaussian(
  unary: tf.Tensor3D,
  embeddings: tf.Tensor3D,
  options: OfflineNormalizeGaussianOptions,
): { unary: tf.Tensor3D; embeddings: tf.Tensor3D } {
  const where = 'gaussian.offlineNormalizeGaussian';
  const { B, L } = assertUnaryAndEmbeddings(unary, embeddings, where);
  if (!(Number.isFinite(options.alpha) && options.alpha > 0)) throw new Error(`${where}: alpha must be a finite number > 0, got ${options.alpha}`);
  if (options.over !== 'example' && options.over !== 'batch') throw new Error(`${where}: over must be 'example' or 'batch', got '${options.over}'`);
  const eps = options.epsilon ?? SCALING_EPSILON;
  const perExample = options.over === 'example';
  return tf.tidy(() => {
    const mask = options.mask === undefined ? undefined : toMask(options.mask, B, L, where);
    const nU = norm(unary, options.kind, { mask: mask === undefined ? undefined : tf.expandDims(mask, 1), perExample }); // [B] or scalar
    const nW = pairwiseNorm(embeddings, options.kind, { mask, perExample }); // [B] or scalar
    const u = tf.mul(tf.div(unary, tf.add(perExample ? tf.reshape(nU, [B, 1, 1]) : nU, eps)), options.alpha) as tf.Tensor3D;
    const a = offlineNormalizeEmbeddings(embeddings, nW, { epsilon: eps });
    return { unary: u, embeddings: a };
  });
}
