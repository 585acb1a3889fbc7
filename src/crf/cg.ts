/**
 * Batched conjugate gradient for B independent symmetric positive-definite systems
 * `A_b x_b = b_b`, where the operator is only available as a matrix-free product `x ↦ A x`.
 *
 * Used by the Gaussian CRF (docs/model.md §3, eq. 9: `s* = (W + λI)^{-1} U`, whose 2L×2L matrix is
 * never formed) for both the forward solve and the backward solve (eq. 12).
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
 * - Float32 has a floor: rounding in the product A x alone leaves a relative residual of about
 *   ε·cond(A) (ε = 2^-23), so a tolerance below it cannot be met and residual replacement then
 *   repeats without end (observed: ~1e-7 for cond ≈ 11). CG therefore keeps the best iterate per
 *   system (by true residual) and counts a replacement that does not halve a system's best residual
 *   as a stall; after CG_STALL_LIMIT stalls in a row in every unconverged system (or at
 *   `maxIterations`) it stops. If the best residual is within the float32 floor of the system
 *   ({@link float32PrecisionFloor}), the best iterate is returned with `precisionLimited: true` and
 *   the tolerance clamped to the residual reached (`tolerance` in the stats). Solves that meet the
 *   tolerance before stalling never take this path: their results are those of plain CG with
 *   residual replacement, bit for bit.
 * - Each right-hand side whose largest entry lies outside [2^-20, 2^20] is first scaled by a power
 *   of two (exact in binary floating point, so nothing else changes) and the solution scaled back:
 *   rᵀr of a tiny right-hand side would otherwise underflow float32, and CG would claim a residual
 *   of 0 or take steps from a ratio of denormals.
 * - Failure is loud: exceeding `maxIterations` or stagnating above the float32 floor, a
 *   non-positive or non-finite curvature pᵀAp (the operator is not positive definite) or a
 *   non-finite residual throws a `CgError` carrying the numbers. Nothing is returned unconverged
 *   except a best iterate at the float32 floor, and that says so in its stats.
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
  /**
   * The tolerance the result meets: the requested one, or, with `precisionLimited`, the residual
   * reached (the requested tolerance clamped to what float32 allowed for this system).
   */
  tolerance: number;
  /**
   * True when float32 rounding stopped CG above the requested tolerance, within the precision floor
   * of the system; x is then the best iterate found.
   */
  precisionLimited: boolean;
}

export interface CgResult extends CgStats {
  x: tf.Tensor;
}

export const CG_DEFAULT_TOLERANCE = 1e-4;
export const CG_DEFAULT_MAX_ITERATIONS = 500;

/** Float32 machine epsilon, 2^-23: the spacing of float32 numbers just above 1. */
export const FLOAT32_EPSILON = 2 ** -23;

/**
 * Residual replacements in a row that do not halve a system's best true residual before that
 * system counts as stagnated. Converging solves halve it at every replacement (one CG step at
 * cond ≤ 100 already cuts the residual by more than 2), so this only triggers at the float32 floor.
 */
export const CG_STALL_LIMIT = 3;

/** The condition number assumed when the caller knows no bound (the Gaussian CRF's default margin gives ≤ 3). */
export const CG_ASSUMED_CONDITION = 4;

/** Right-hand sides whose largest entry lies in [2^-RANGE, 2^RANGE] are solved as they are. */
const CG_UNSCALED_EXPONENT_RANGE = 20;

/**
 * The relative residual float32 CG can be relied on to reach for an operator with condition number
 * ≤ `conditionBound`: 16·ε·cond, capped at √ε ≈ 3.5e-4. Rounding in A x alone leaves ~ε·cond; the
 * factor 16 covers the accumulation over long inner products (measured floors: docs/crf-gaussian-scaling.md).
 * Above √ε a stalled solve is reported as a failure, never as a precision limit, however badly
 * conditioned the system is.
 */
export function float32PrecisionFloor(conditionBound: number): number {
  const kappa = Number.isFinite(conditionBound) && conditionBound >= 1 ? conditionBound : Infinity;
  return Math.min(16 * FLOAT32_EPSILON * kappa, Math.sqrt(FLOAT32_EPSILON));
}

export type CgFailure = 'max-iterations' | 'stagnated' | 'not-positive-definite' | 'non-finite';

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

/** 2^{k_b} as a float32 factor [B, 1, …] (callers keep |k| ≤ 126, so each is a normal float32). */
function powersOfTwo(exponents: readonly number[], rank: number): tf.Tensor {
  return perBatch(tf.tensor1d(exponents.map((k) => 2 ** k)), rank);
}

/** t_b · 2^{k_b} per batch element, exactly, in two halves so that no factor leaves float32's range. */
function scaleByPowersOfTwo(t: tf.Tensor, exponents: readonly number[]): tf.Tensor {
  const half = exponents.map((k) => Math.trunc(k / 2));
  return tf.tidy(() =>
    tf.mul(
      tf.mul(t, powersOfTwo(half, t.rank)),
      powersOfTwo(
        exponents.map((k, b) => k - half[b]),
        t.rank,
      ),
    ),
  );
}

/**
 * Solves `apply(x) = rhs` per batch element by conjugate gradient from x₀ = 0.
 *
 * `apply` must be linear, symmetric and positive definite per batch element, map [B, ...] to the
 * same shape, and must not dispose its argument. It is called inside `tf.tidy`.
 * `conditionBound` (an upper bound of cond(A), if the caller knows one) sets the float32 floor
 * below which a stalled solve is accepted ({@link float32PrecisionFloor}); default {@link CG_ASSUMED_CONDITION}.
 * The caller owns the returned `x`.
 */
export function conjugateGradient(
  apply: (x: tf.Tensor) => tf.Tensor,
  rhs: tf.Tensor,
  options: CgOptions = {},
  conditionBound = CG_ASSUMED_CONDITION,
): CgResult {
  const { tolerance, maxIterations } = resolveCgOptions(options);
  const floor = float32PrecisionFloor(conditionBound);
  if (rhs.rank < 2)
    throw new Error(`conjugateGradient: rhs must have a batch axis and at least one more (shape [B, ...]), got shape [${rhs.shape.join(', ')}]`);
  const B = rhs.shape[0];
  const rank = rhs.rank;
  const axes = Array.from({ length: rank - 1 }, (_, i) => i + 1);

  // One read: ‖rhs_b‖² and max |rhs_b| side by side.
  const first = tf.tidy(() => tf.concat([batchDot(rhs, rhs), tf.max(tf.abs(rhs), axes)]));
  const firstData = first.dataSync();
  first.dispose();
  for (let b = 0; b < B; b++) {
    if (!Number.isFinite(firstData[B + b])) {
      throw new CgError(
        `conjugate gradient: the right-hand side of batch element ${b} is not finite (max |rhs| = ${firstData[B + b]})`,
        'non-finite',
        0,
        NaN,
        tolerance,
      );
    }
  }
  // Power-of-two exponents that bring max |rhs_b| into [1, 2), only for systems outside the safe range.
  const exponents = Array.from(firstData.subarray(B, 2 * B), (m) => {
    const e = m > 0 ? Math.floor(Math.log2(m)) : 0;
    return Math.abs(e) > CG_UNSCALED_EXPONENT_RANGE ? e : 0;
  });
  const scaled = exponents.some((e) => e !== 0);
  const b0: tf.Tensor = scaled
    ? scaleByPowersOfTwo(
        rhs,
        exponents.map((e) => -e),
      )
    : rhs;

  // x₀ = 0 ⇒ r₀ = b0, p₀ = r₀.
  let x: tf.Tensor = tf.zerosLike(b0);
  let r: tf.Tensor = tf.clone(b0);
  let p: tf.Tensor = tf.clone(b0);
  let rr: tf.Tensor = tf.tidy(() => batchDot(b0, b0)); // [B], ‖r_b‖²
  let best: tf.Tensor | null = null; // the best iterate per system so far; null: x₀ = 0
  const live = (): tf.Tensor[] => [x, r, p, rr, ...(best === null ? [] : [best]), ...(scaled ? [b0] : [])];
  /** Returns `result` (x or best), scaled back, and disposes every other tensor of the solve. */
  const finish = (result: tf.Tensor, stats: CgStats): CgResult => {
    const out = scaled ? scaleByPowersOfTwo(result, exponents) : result;
    for (const t of live()) if (t !== out) t.dispose();
    return { x: out, ...stats };
  };
  try {
    const rhsNorm2 = scaled ? Float64Array.from(rr.dataSync()) : Float64Array.from(firstData.subarray(0, B)); // ‖b0_b‖²
    const rhsNorm = Array.from(rhsNorm2, Math.sqrt);
    // Relative residual; an all-zero right-hand side is solved exactly by x = 0, so its residual is
    // measured absolutely (and is exactly 0 from x₀ = 0).
    const relative = (norm2: ArrayLike<number>): number[] => Array.from({ length: B }, (_, b) => Math.sqrt(norm2[b]) / (rhsNorm[b] > 0 ? rhsNorm[b] : 1));

    let rel = relative(rhsNorm2);
    const bestRel = rel.slice(); // true residual of the best iterate per system (x₀ = 0 to begin with)
    const stalls = new Array<number>(B).fill(0);
    let iterations = 0;
    let restarts = 0;
    for (;;) {
      const worst = Math.max(...rel);
      if (!Number.isFinite(worst)) {
        throw new CgError(`conjugate gradient: the residual became non-finite after ${iterations} iterations`, 'non-finite', iterations, worst, tolerance);
      }
      if (worst <= tolerance || iterations >= maxIterations) {
        // Recursive residual says converged (or the budget is spent): check the true residual b0 − A x.
        const trueR = tf.tidy(() => tf.sub(b0, apply(x)));
        const trueRR = tf.tidy(() => batchDot(trueR, trueR));
        const trueRel = relative(trueRR.dataSync());
        const trueWorst = Math.max(...trueRel);
        if (trueWorst <= tolerance) {
          trueR.dispose();
          trueRR.dispose();
          return finish(x, { iterations, residual: trueWorst, restarts, tolerance, precisionLimited: false });
        }
        if (!Number.isFinite(trueWorst)) {
          trueR.dispose();
          trueRR.dispose();
          throw new CgError(
            `conjugate gradient: the true residual is non-finite after ${iterations} iterations`,
            'non-finite',
            iterations,
            trueWorst,
            tolerance,
          );
        }
        // Keep the best iterate per system; a replacement that does not halve a system's best is a stall.
        const improved = trueRel.map((v, b) => v < bestRel[b]);
        if (improved.some(Boolean)) {
          const previous: tf.Tensor | null = best;
          best = tf.tidy(() => tf.where(perBatch(tf.tensor1d(improved.map(Number), 'bool'), rank), x, previous ?? tf.zerosLike(x)));
          previous?.dispose();
        }
        for (let b = 0; b < B; b++) {
          stalls[b] = trueRel[b] <= 0.5 * bestRel[b] ? 0 : stalls[b] + 1;
          bestRel[b] = Math.min(bestRel[b], trueRel[b]);
        }
        const stagnated = bestRel.every((v, b) => v <= tolerance || stalls[b] >= CG_STALL_LIMIT);
        if (stagnated || iterations >= maxIterations) {
          trueR.dispose();
          trueRR.dispose();
          const reached = Math.max(...bestRel);
          if (reached <= floor && best !== null) {
            return finish(best, { iterations, residual: reached, restarts, tolerance: Math.max(tolerance, reached), precisionLimited: reached > tolerance });
          }
          throw stagnated
            ? new CgError(
                `conjugate gradient stagnated: after ${iterations} iterations and ${restarts} residual replacements the best relative residual is ${fmt(reached)} > tolerance ${fmt(tolerance)}, ` +
                  `above the float32 floor ${fmt(floor)} expected for this system (is the operator symmetric positive definite?)`,
                'stagnated',
                iterations,
                reached,
                tolerance,
              )
            : new CgError(
                `conjugate gradient did not converge: after ${iterations} iterations (maxIterations) the relative residual is ${fmt(reached)} > tolerance ${fmt(tolerance)}`,
                'max-iterations',
                iterations,
                reached,
                tolerance,
              );
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
        continue;
      }
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
      x.dispose();
      r.dispose();
      p.dispose();
      rr.dispose();
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
