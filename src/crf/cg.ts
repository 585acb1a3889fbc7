/**
 * Batched conjugate gradient for B independent symmetric positive-definite systems
 * `A_b x_b = b_b`, where the operator is only available as a matrix-free product `x ↦ A x`.
 *
 * Used by the Gaussian CRF (model-spec §3: `s* = (W + λI)^{-1} U`, "computed by conjugate gradient,
 * never by forming or inverting the matrix") for both the forward solve and the backward solve.
 *
 * Conventions
 * - `rhs` has shape [B, ...]; the first axis indexes the independent systems, every other axis is
 *   flattened into the unknown vector of that system. Inner products are per batch element.
 * - Convergence is relative and per system: ‖r_b‖ / ‖rhs_b‖ ≤ tolerance for every b (the reported
 *   `residual` is the maximum over the batch). A system with rhs_b = 0 has the exact solution 0.
 * - Systems that have converged are frozen (step length 0) while the others keep iterating, so a
 *   batch gives the same answer per element as the element solved alone, up to float rounding.
 * - One small device→host read per iteration (the B residual norms and the B curvatures pᵀAp,
 *   read together), none of the iterates: the loop stops as soon as the residual says so.
 * - Float32 round-off makes the recursively updated residual drift away from the true residual
 *   b − Ax. When the recursive residual claims convergence, the true residual is computed once
 *   (one more product); if it is still above the tolerance, CG restarts from the current x with the
 *   true residual ("residual replacement"), within the same iteration budget. So the reported
 *   residual is always the true one, never the optimistic recursive one.
 * - Failure is loud: exceeding `maxIterations`, a non-positive or non-finite curvature pᵀAp (the
 *   operator is not positive definite) or a non-finite residual throws a `CgError` carrying the
 *   numbers. Nothing is returned silently unconverged.
 * - Memory: each iteration runs in its own `tf.tidy`; only x, r, p and rᵀr survive an iteration and
 *   the previous ones are disposed. On error every tensor created here is disposed.
 */
import * as tf from '@tensorflow/tfjs';

export interface CgOptions {
  /** Relative residual ‖r_b‖/‖rhs_b‖ to reach in every batch element. Default 1e-4. */
  tolerance?: number;
  /** Maximum number of CG steps (operator products inside the loop). Default 500. */
  maxIterations?: number;
}

export interface CgStats {
  /** CG steps taken (operator products in the loop, not counting true-residual checks). */
  iterations: number;
  /** Final true relative residual max_b ‖rhs_b − A x_b‖ / ‖rhs_b‖. */
  residual: number;
  /** Number of residual replacements (restarts) that float32 round-off made necessary. */
  restarts: number;
}

export interface CgResult extends CgStats {
  x: tf.Tensor;
}

export const CG_DEFAULT_TOLERANCE = 1e-4;
export const CG_DEFAULT_MAX_ITERATIONS = 500;

export type CgFailure = 'max-iterations' | 'not-positive-definite' | 'non-finite';

/** A CG solve that did not produce a solution within the stated tolerance. */
export class CgError extends Error {
  constructor(
    message: string,
    readonly failure: CgFailure,
    readonly iterations: number,
    readonly residual: number,
    readonly tolerance: number,
  ) {
    super(message);
    this.name = 'CgError';
  }
}

/** Validates and fills the CG options; throws naming the bad option. */
export function resolveCgOptions(options: CgOptions = {}): Required<CgOptions> {
  const tolerance = options.tolerance ?? CG_DEFAULT_TOLERANCE;
  const maxIterations = options.maxIterations ?? CG_DEFAULT_MAX_ITERATIONS;
  if (!(Number.isFinite(tolerance) && tolerance > 0)) {
    throw new Error(`tolerance must be a finite number > 0 (a relative residual), got ${tolerance}`);
  }
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw new Error(`maxIterations must be an integer >= 1, got ${maxIterations}`);
  }
  return { tolerance, maxIterations };
}

/** Per-batch-element inner product ⟨u_b, v_b⟩ → [B]. */
function batchDot(u: tf.Tensor, v: tf.Tensor): tf.Tensor1D {
  const axes = Array.from({ length: u.rank - 1 }, (_, i) => i + 1);
  return tf.sum(tf.mul(u, v), axes) as tf.Tensor1D;
}

/** [B] → [B, 1, …, 1] so that it broadcasts against a tensor of the given rank. */
function perBatch(v: tf.Tensor, rank: number): tf.Tensor {
  return tf.reshape(v, [v.shape[0], ...Array<number>(rank - 1).fill(1)]);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toExponential(3) : String(x);
}

/**
 * Solves `apply(x) = rhs` per batch element by conjugate gradient from x₀ = 0.
 *
 * `apply` must be linear, symmetric and positive definite per batch element, map [B, ...] to the
 * same shape, and must not dispose its argument. It is called inside `tf.tidy`.
 * The caller owns the returned `x`.
 */
export function conjugateGradient(apply: (x: tf.Tensor) => tf.Tensor, rhs: tf.Tensor, options: CgOptions = {}): CgResult {
  const { tolerance, maxIterations } = resolveCgOptions(options);
  const notConverged = (iterations: number, residual: number): CgError =>
    new CgError(
      `conjugate gradient did not converge: after ${iterations} iterations (maxIterations) the relative residual is ${fmt(residual)} > tolerance ${fmt(tolerance)}`,
      'max-iterations',
      iterations,
      residual,
      tolerance,
    );
  if (rhs.rank < 2) throw new Error(`conjugateGradient: rhs must have a batch axis and at least one more (shape [B, ...]), got shape [${rhs.shape.join(', ')}]`);
  const B = rhs.shape[0];
  const rank = rhs.rank;

  // x₀ = 0 ⇒ r₀ = rhs, p₀ = r₀.
  let x: tf.Tensor = tf.zerosLike(rhs);
  let r: tf.Tensor = tf.clone(rhs);
  let p: tf.Tensor = tf.clone(rhs);
  let rr: tf.Tensor = batchDot(rhs, rhs); // [B], ‖r_b‖²
  const live = (): tf.Tensor[] => [x, r, p, rr];
  try {
    const rhsNorm2 = Float64Array.from(rr.dataSync()); // ‖rhs_b‖², read once
    const rhsNorm = Array.from(rhsNorm2, Math.sqrt);
    for (let b = 0; b < B; b++) {
      if (!Number.isFinite(rhsNorm[b])) {
        throw new CgError(`conjugate gradient: the right-hand side of batch element ${b} is not finite (‖rhs‖ = ${rhsNorm[b]})`, 'non-finite', 0, NaN, tolerance);
      }
    }
    // Relative residual; an all-zero right-hand side is solved exactly by x = 0, so its residual is
    // measured absolutely (and is exactly 0 from x₀ = 0).
    const relative = (norm2: ArrayLike<number>): number[] => Array.from({ length: B }, (_, b) => Math.sqrt(norm2[b]) / (rhsNorm[b] > 0 ? rhsNorm[b] : 1));

    let rel = relative(rhsNorm2);
    let iterations = 0;
    let restarts = 0;
    for (;;) {
      const worst = Math.max(...rel);
      if (!Number.isFinite(worst)) {
        throw new CgError(`conjugate gradient: the residual became non-finite after ${iterations} iterations`, 'non-finite', iterations, worst, tolerance);
      }
      if (worst <= tolerance) {
        // Recursive residual says converged: confirm with the true residual rhs − A x.
        const trueR = tf.tidy(() => tf.sub(rhs, apply(x)));
        const trueRR = tf.tidy(() => batchDot(trueR, trueR));
        const trueRel = relative(trueRR.dataSync());
        const trueWorst = Math.max(...trueRel);
        if (trueWorst <= tolerance) {
          trueR.dispose();
          trueRR.dispose();
          const result = { x, iterations, residual: trueWorst, restarts };
          r.dispose();
          p.dispose();
          rr.dispose();
          return result;
        }
        if (!Number.isFinite(trueWorst)) {
          trueR.dispose();
          trueRR.dispose();
          throw new CgError(`conjugate gradient: the true residual is non-finite after ${iterations} iterations`, 'non-finite', iterations, trueWorst, tolerance);
        }
        // Residual replacement: restart the Krylov space from x with the true residual.
        r.dispose();
        p.dispose();
        rr.dispose();
        r = trueR;
        p = tf.clone(trueR);
        rr = trueRR;
        rel = trueRel;
        restarts++;
        if (iterations >= maxIterations) throw notConverged(iterations, trueWorst);
        continue;
      }
      if (iterations >= maxIterations) throw notConverged(iterations, worst);
      // Freeze converged systems: their step lengths are 0 (and their rᵀr may be 0, so the CG
      // ratios rᵀr/pᵀAp would be 0/0 there; tf.where discards those lanes).
      const activeArr = rel.map((v) => (v > tolerance ? 1 : 0));
      const step = tf.tidy(() => {
        const active = perBatch(tf.tensor1d(activeArr, 'bool'), rank); // [B,1,…]
        const Ap = apply(p); // [B, ...]
        const pAp = batchDot(p, Ap); // [B]
        const rrB = perBatch(rr, rank);
        const zero = tf.zerosLike(rrB);
        const alpha = tf.where(active, tf.div(rrB, perBatch(pAp, rank)), zero); // [B,1,…]
        const xNew = tf.add(x, tf.mul(alpha, p));
        const rNew = tf.sub(r, tf.mul(alpha, Ap));
        const rrNew = batchDot(rNew, rNew); // [B]
        const beta = tf.where(active, tf.div(perBatch(rrNew, rank), rrB), zero);
        const pNew = tf.add(rNew, tf.mul(beta, p));
        // One read per iteration: the new residual norms and the curvatures, side by side.
        const probe = tf.concat([rrNew, pAp]);
        return { xNew, rNew, pNew, rrNew, probe };
      });
      for (const t of live()) t.dispose();
      x = step.xNew;
      r = step.rNew;
      p = step.pNew;
      rr = step.rrNew;
      const probe = step.probe.dataSync();
      step.probe.dispose();
      iterations++;
      for (let b = 0; b < B; b++) {
        const curvature = probe[B + b];
        if (activeArr[b] === 1 && !(curvature > 0 && Number.isFinite(curvature))) {
          throw new CgError(
            `conjugate gradient: the operator is not positive definite for batch element ${b} (pᵀAp = ${curvature} at iteration ${iterations})`,
            'not-positive-definite',
            iterations,
            rel[b],
            tolerance,
          );
        }
      }
      rel = relative(probe.subarray(0, B));
    }
  } catch (e) {
    for (const t of live()) if (!t.isDisposed) t.dispose();
    throw e;
  }
}
