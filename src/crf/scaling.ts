/**
 * Scaling operators of docs/model.md §4, shared by the linear-chain and the Gaussian CRF:
 *
 * - online scaling (Algorithm 1): `F_α(Y|X,θ) = F(Y | αU_θ(x), W_θ(x))` → {@link scaleUnary}, with α
 *   re-chosen after every epoch by {@link gridSearch};
 * - offline scaling: `Û = α·U/‖U‖`, `Ŵ = W/‖W‖` → {@link offlineNormalize} (and
 *   {@link offlineNormalizeEmbeddings} for the Gaussian CRF, whose W is given by embeddings A);
 * - offline-reg: `R = λ(‖U‖/‖W‖ − α)²` → {@link regulariser}.
 *
 * The norms ({@link norm}) are the config's `scaling.norm` choices (`frobenius | rms | max`), taken per
 * example or over the mini-batch (`scaling.norm_over: example | batch`), with a mask so that padding
 * never counts. Everything here is differentiable and made of plain tfjs ops (no gatherND/einsum),
 * and nothing here reads tensors back to the host.
 *
 * This module must not import gaussian.ts (gaussian.ts imports it).
 */
import * as tf from '@tensorflow/tfjs';

export const NORM_KINDS = ['frobenius', 'rms', 'max'] as const;
export type NormKind = (typeof NORM_KINDS)[number];
export const NORM_OVER = ['example', 'batch'] as const;
export type NormOver = (typeof NORM_OVER)[number];

/**
 * ε added to the norms in the denominators of Û = α·U/(‖U‖+ε), Ŵ = W/(‖W‖+ε), A/√(‖W‖+ε) and
 * ‖U‖/(‖W‖+ε). Absolute, so it only matters when a norm is near 0 (an all-zero or fully masked
 * input, where it turns 0/0 into 0); for norms ≳ 1e-1 it is below float32 resolution of the result.
 */
export const SCALING_EPSILON = 1e-6;

/**
 * Floor added under every square root of a norm: √(s + 1e-30). It makes the gradient of a norm at an
 * all-zero input 0 instead of NaN (∂√s/∂s = ∞ at 0), and changes no float32 value whose square-sum
 * exceeds ~1e-23 (1e-30 is below half an ulp there). The norm of an all-zero input is 1e-15.
 */
export const SQRT_FLOOR = 1e-30;

/** √(x + SQRT_FLOOR): a square root with a finite gradient at 0. */
export function safeSqrt<T extends tf.Tensor>(x: T): T {
  return tf.sqrt(tf.add(x, SQRT_FLOOR)) as T;
}

export interface NormOptions {
  /**
   * Which entries count (1) and which are padding (0). Same shape as x or broadcastable to it by the
   * usual trailing-axes rule (e.g. [B, L, 1] against [B, L, K]); it must not enlarge x. Values must
   * be 0 or 1 (not checked here: this module never reads tensors back).
   */
  mask?: tf.Tensor;
  /** Reduce over every axis but the first (the batch axis) → [B]; otherwise → a scalar. */
  perExample?: boolean;
}

function assertKind(kind: string, where: string): asserts kind is NormKind {
  if (!(NORM_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`${where}: norm kind must be one of ${NORM_KINDS.join(', ')}, got '${kind}'`);
  }
}

function assertOver(over: string, where: string): asserts over is NormOver {
  if (!(NORM_OVER as readonly string[]).includes(over)) {
    throw new Error(`${where}: 'over' must be one of ${NORM_OVER.join(', ')}, got '${over}'`);
  }
}

function assertPositiveFinite(value: number, name: string, where: string): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new Error(`${where}: ${name} must be a finite number > 0, got ${value}`);
  }
}

/** The shape of x ⊙ mask under numpy broadcasting, required to equal x's own shape. */
function assertMaskFits(x: tf.Tensor, mask: tf.Tensor, where: string): void {
  const ok =
    mask.rank <= x.rank &&
    mask.shape.every((m, i) => {
      const xi = x.shape[x.rank - mask.rank + i];
      return m === xi || m === 1;
    });
  if (!ok) {
    throw new Error(
      `${where}: mask of shape [${mask.shape.join(', ')}] does not broadcast to the shape [${x.shape.join(', ')}] of the tensor it masks (align trailing axes; use size-1 axes to broadcast)`,
    );
  }
}

function reduceAxes(x: tf.Tensor, perExample: boolean): number[] | null {
  if (!perExample) return null; // all axes
  return Array.from({ length: x.rank - 1 }, (_, i) => i + 1);
}

function sumOver(x: tf.Tensor, axes: number[] | null): tf.Tensor {
  if (axes === null) return tf.sum(x);
  return axes.length === 0 ? x : tf.sum(x, axes);
}

function maxOver(x: tf.Tensor, axes: number[] | null): tf.Tensor {
  if (axes === null) return tf.max(x);
  return axes.length === 0 ? x : tf.max(x, axes);
}

/**
 * The size of a tensor of potentials, in one of three senses (m = mask, 1 where an entry counts):
 * - `frobenius`: √(Σ m·x²)
 * - `rms`: √(Σ m·x² / Σ m), the root-mean-square entry (0 when nothing counts)
 * - `max`: max |x| over the entries that count (0 when nothing counts)
 * over every axis (→ scalar), or per example over every axis but the first (→ [B]).
 *
 * For a batch, the batch norm treats the batch as one stacked tensor: frobenius_batch =
 * √(Σ_b frobenius_b²), rms_batch = √(Σ_b Σ m·x² / Σ_b Σ m) (pooled, not a mean of rms values),
 * max_batch = max_b max_b.
 *
 * Differentiable: square roots carry the {@link SQRT_FLOOR}; the gradient of `max` goes to the
 * maximising entries (each tied entry receives the full gradient, tfjs's convention).
 */
export function norm(x: tf.Tensor, kind: NormKind, options: NormOptions = {}): tf.Tensor {
  assertKind(kind, 'norm');
  const perExample = options.perExample ?? false;
  if (perExample && x.rank < 1) throw new Error(`norm: perExample needs a batch axis, got a scalar`);
  if (options.mask !== undefined) assertMaskFits(x, options.mask, 'norm');
  return tf.tidy(() => {
    const axes = reduceAxes(x, perExample);
    const m = options.mask === undefined ? null : tf.cast(options.mask, 'float32');
    const xm = m === null ? x : tf.mul(x, m); // padding → 0, which adds nothing to Σx² or to max|x|
    switch (kind) {
      case 'frobenius':
        return safeSqrt(sumOver(tf.square(xm), axes));
      case 'rms': {
        const sumSq = sumOver(tf.square(xm), axes);
        const count = m === null ? tf.scalar(axes === null ? x.size : axes.reduce((n, a) => n * x.shape[a], 1)) : sumOver(tf.broadcastTo(m, x.shape), axes);
        // A fully masked example has Σm = 0 and Σx² = 0: divide by max(Σm, 1) to return 0.
        return safeSqrt(tf.div(sumSq, tf.maximum(count, 1)));
      }
      case 'max':
        return maxOver(tf.abs(xm), axes);
    }
  });
}

/** Online scaling: the unary potentials of F_α are αU (docs/model.md §4, eq. 13; the paper's Algorithm 1). */
export function scaleUnary<T extends tf.Tensor>(unary: T, alpha: number): T {
  if (!(typeof alpha === 'number' && Number.isFinite(alpha))) throw new Error(`scaleUnary: alpha must be a finite number, got ${alpha}`);
  return tf.mul(unary, alpha) as T;
}

/** [B] → [B, 1, …, 1] (rank `rank`); a scalar stays a scalar. */
function broadcastPerExample(v: tf.Tensor, rank: number): tf.Tensor {
  if (v.rank === 0) return v;
  return tf.reshape(v, [v.shape[0], ...Array<number>(rank - 1).fill(1)]);
}

export interface OfflineNormalizeOptions {
  /** Target relative scale α (config `scaling.alpha`). */
  alpha: number;
  /** Config `scaling.norm`. */
  kind: NormKind;
  /** Config `scaling.norm_over`: ‖U‖ per example (broadcast over its entries) or one for the batch. */
  over: NormOver;
  /** Mask of the unary tensor (see {@link NormOptions.mask}). */
  mask?: tf.Tensor;
  /**
   * Whether `pairwise` carries a batch axis ([B, …], one W per example). Default false: W is one
   * matrix shared by the batch (the chain CRF's K×K), normalised by its own norm whatever `over` is.
   * When true, W is normalised per example if over = 'example', by the batch norm otherwise.
   */
  pairwiseBatched?: boolean;
  /** Mask of the pairwise tensor (rarely needed). */
  pairwiseMask?: tf.Tensor;
  /** Default {@link SCALING_EPSILON}. */
  epsilon?: number;
}

/**
 * Offline (explicit relative) scaling, docs/model.md eq. 14: Û = α·U/(‖U‖+ε), Ŵ = W/(‖W‖+ε).
 * After it, ‖Û‖ = α and ‖Ŵ‖ = 1 up to ε, so α alone sets the unary-to-pairwise scale.
 * Differentiable (the norms are not stopped: the gradient sees the normalisation).
 * Masked (padding) entries are excluded from the norms and scaled by the same factor as the rest;
 * downstream code ignores them anyway.
 */
export function offlineNormalize<TU extends tf.Tensor, TW extends tf.Tensor>(
  unary: TU,
  pairwise: TW,
  options: OfflineNormalizeOptions,
): { unary: TU; pairwise: TW } {
  const where = 'offlineNormalize';
  assertPositiveFinite(options.alpha, 'alpha', where);
  assertKind(options.kind, where);
  assertOver(options.over, where);
  const eps = options.epsilon ?? SCALING_EPSILON;
  assertPositiveFinite(eps, 'epsilon', where);
  const perExample = options.over === 'example';
  if (perExample && unary.rank < 2)
    throw new Error(`${where}: over = 'example' needs a unary tensor with a batch axis [B, ...], got shape [${unary.shape.join(', ')}]`);
  const wPerExample = perExample && (options.pairwiseBatched ?? false);
  if (wPerExample && pairwise.shape[0] !== unary.shape[0]) {
    throw new Error(
      `${where}: pairwiseBatched pairwise of shape [${pairwise.shape.join(', ')}] must have the batch size ${unary.shape[0]} of unary [${unary.shape.join(', ')}] as its first axis`,
    );
  }
  return tf.tidy(() => {
    const nU = norm(unary, options.kind, { mask: options.mask, perExample }); // [B] or scalar
    const nW = norm(pairwise, options.kind, { mask: options.pairwiseMask, perExample: wPerExample }); // [B] or scalar
    const u = tf.mul(tf.div(unary, tf.add(broadcastPerExample(nU, unary.rank), eps)), options.alpha) as TU;
    const w = tf.div(pairwise, tf.add(broadcastPerExample(nW, pairwise.rank), eps)) as TW;
    return { unary: u, pairwise: w };
  });
}

/**
 * Offline scaling of a pairwise term given by embeddings (the Gaussian CRF's W = [[0, AAᵀ], [AAᵀ, 0]]):
 * W is quadratic in A (W(cA) = c²W(A)), so Ŵ = W/(‖W‖+ε) is obtained by Â = A/√(‖W‖+ε).
 * `normW` is ‖W‖ as a scalar (over = 'batch') or [B] (over = 'example'), computed by the caller,
 * e.g. with `pairwiseNorm` of gaussian.ts (or use its `offlineNormalizeGaussian`, which does both).
 */
export function offlineNormalizeEmbeddings<T extends tf.Tensor>(embeddings: T, normW: tf.Tensor, options: { epsilon?: number } = {}): T {
  const eps = options.epsilon ?? SCALING_EPSILON;
  assertPositiveFinite(eps, 'epsilon', 'offlineNormalizeEmbeddings');
  if (!(normW.rank === 0 || (normW.rank === 1 && normW.shape[0] === embeddings.shape[0]))) {
    throw new Error(`offlineNormalizeEmbeddings: normW must be a scalar or of shape [B] = [${embeddings.shape[0]}], got [${normW.shape.join(', ')}]`);
  }
  return tf.tidy(() => tf.div(embeddings, tf.sqrt(tf.add(broadcastPerExample(normW, embeddings.rank), eps))) as T);
}

/**
 * offline-reg, docs/model.md eq. 15: R = λ (‖U‖/(‖W‖+ε) − α)². With per-example norms (normU of shape [B],
 * normW a scalar or [B]) the squared deviations are averaged over the examples, so R does not grow
 * with the batch size. Returns a scalar; differentiable in both norms.
 */
export function regulariser(normU: tf.Tensor, normW: tf.Tensor, alpha: number, lambda: number, options: { epsilon?: number } = {}): tf.Scalar {
  const where = 'regulariser';
  assertPositiveFinite(alpha, 'alpha', where);
  if (!(typeof lambda === 'number' && Number.isFinite(lambda) && lambda >= 0)) throw new Error(`${where}: lambda must be a finite number >= 0, got ${lambda}`);
  const eps = options.epsilon ?? SCALING_EPSILON;
  assertPositiveFinite(eps, 'epsilon', where);
  for (const [name, t] of [
    ['normU', normU],
    ['normW', normW],
  ] as const) {
    if (t.rank > 1) throw new Error(`${where}: ${name} must be a scalar or of shape [B], got [${t.shape.join(', ')}]`);
  }
  if (normU.rank === 1 && normW.rank === 1 && normU.shape[0] !== normW.shape[0]) {
    throw new Error(`${where}: normU [${normU.shape.join(', ')}] and normW [${normW.shape.join(', ')}] must have the same batch size`);
  }
  return tf.tidy(() => tf.mul(tf.mean(tf.square(tf.sub(tf.div(normU, tf.add(normW, eps)), alpha))), lambda) as tf.Scalar);
}

export interface GridSearchResult {
  /** The α with the smallest finite loss; ties → the first in grid order. */
  best: number;
  bestLoss: number;
  /** Every grid point in the given order, non-finite losses included as they came. */
  curve: { alpha: number; loss: number }[];
}

/**
 * Online scaling's α selection (Algorithm 1): α_best = argmin_α L_α(D) over `grid`.
 * Every grid point is evaluated, sequentially and in the given order (lossOfAlpha may be async; it
 * is never called concurrently, so it may use the model freely). Ties go to the first minimum in grid
 * order, which is deterministic and does not depend on float noise in a distance-to-1 rule. A
 * non-finite loss (NaN, ±∞: a diverging scale) is recorded in the curve and never chosen.
 * Throws on an empty grid, a non-finite grid value, or when every loss is non-finite.
 */
export async function gridSearch(lossOfAlpha: (alpha: number) => number | Promise<number>, grid: readonly number[]): Promise<GridSearchResult> {
  if (grid.length === 0) throw new Error('gridSearch: the alpha grid is empty; give at least one alpha (config scaling.alpha_grid)');
  for (const a of grid) {
    if (!(typeof a === 'number' && Number.isFinite(a))) throw new Error(`gridSearch: grid values must be finite numbers, got ${a} in [${grid.join(', ')}]`);
  }
  const curve: { alpha: number; loss: number }[] = [];
  let best = NaN;
  let bestLoss = Infinity;
  for (const alpha of grid) {
    const loss = await lossOfAlpha(alpha);
    if (typeof loss !== 'number') throw new Error(`gridSearch: lossOfAlpha(${alpha}) must return a number, got ${typeof loss}`);
    curve.push({ alpha, loss });
    if (Number.isFinite(loss) && (Number.isNaN(best) || loss < bestLoss)) {
      best = alpha;
      bestLoss = loss;
    }
  }
  if (Number.isNaN(best)) {
    throw new Error(`gridSearch: the loss is non-finite at every alpha (${curve.map((c) => `${c.alpha}: ${c.loss}`).join(', ')}); the model has diverged`);
  }
  return { best, bestLoss, curve };
}
