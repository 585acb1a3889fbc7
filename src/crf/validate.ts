/**
 * Input checks and the data-built masks shared by the linear-chain CRF (`chain.ts`,
 * `chain-meanfield.ts`).
 *
 * Every check throws a {@link CrfInputError} that names the argument at fault and the shape it
 * expected, because a wrong shape deep inside a dynamic program otherwise surfaces as an opaque
 * broadcasting error many ops later (or, worse, as a silently wrong number).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Score given to a forbidden transition (`options.allowed`). Large enough that exp(score) is
 * exactly 0 in float32 next to any realistic score, but finite: −Infinity would turn
 * `−Inf − (−Inf)` inside the max-shifted log-sum-exp into NaN, and NaN gradients with it.
 */
export const FORBIDDEN_SCORE = -1e4;

/** Options understood by every chain function. */
export interface ChainOptions {
  /**
   * K×K transition constraints: `allowed[a][b]` false (or 0) forbids label a followed by label b
   * (e.g. `O → I-X` in BIO). Forbidden transitions score {@link FORBIDDEN_SCORE} instead of
   * `pairwise[a][b]`, identically in every function.
   */
  allowed?: boolean[][] | number[][];
  /**
   * Check shapes, lengths, labels and finiteness of the potentials (default true). The finiteness
   * check reads one boolean from the back end (a sync); pass `false` in a training loop whose inputs
   * are known to be well formed. Shape checks are plain JS and cheap, but also skipped.
   */
  validate?: boolean;
  /**
   * Run on the back end's fused chain-CRF kernels where it registers them (the `native` back end:
   * one native call per batch for an objective and its gradient, and for Viterbi; default true).
   * false takes the tfjs-composed path, the reference the fused kernels are tested against.
   */
  fused?: boolean;
}

/** A malformed argument to a CRF function. `argument` is its name. */
export class CrfInputError extends Error {
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'CrfInputError';
    this.argument = argument;
  }
}

export interface Dims {
  B: number;
  T: number;
  K: number;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

export function checkUnary(unary: tf.Tensor): Dims {
  if (!(unary instanceof tf.Tensor)) throw new CrfInputError('unary', 'expected a tf.Tensor of shape [B, T, K]');
  if (unary.rank !== 3) throw new CrfInputError('unary', `expected a rank-3 tensor [B, T, K], got shape ${fmt(unary.shape)}`);
  if (unary.dtype !== 'float32') throw new CrfInputError('unary', `expected dtype float32, got ${unary.dtype}`);
  const [B, T, K] = unary.shape as [number, number, number];
  if (B < 1 || T < 1 || K < 1) throw new CrfInputError('unary', `expected a non-empty [B, T, K] tensor, got shape ${fmt(unary.shape)}`);
  return { B, T, K };
}

export function checkPotentials(unary: tf.Tensor, pairwise: tf.Tensor): Dims {
  const { B, T, K } = checkUnary(unary);
  if (!(pairwise instanceof tf.Tensor)) throw new CrfInputError('pairwise', `expected a tf.Tensor of shape [K, K] = [${K}, ${K}]`);
  if (pairwise.rank !== 2 || pairwise.shape[0] !== K || pairwise.shape[1] !== K) {
    throw new CrfInputError('pairwise', `expected shape [K, K] = [${K}, ${K}] (K from unary ${fmt(unary.shape)}), got ${fmt(pairwise.shape)}`);
  }
  if (pairwise.dtype !== 'float32') throw new CrfInputError('pairwise', `expected dtype float32, got ${pairwise.dtype}`);
  return { B, T, K };
}

export function checkLengths(lengths: readonly number[], { B, T }: Dims): void {
  if (!Array.isArray(lengths)) throw new CrfInputError('lengths', `expected an array of ${B} integers in [1, ${T}]`);
  if (lengths.length !== B)
    throw new CrfInputError('lengths', `expected ${B} entries (one per sequence of unary [B, T, K] with B = ${B}), got ${lengths.length}`);
  lengths.forEach((L, b) => {
    if (!Number.isInteger(L) || L < 1 || L > T) {
      throw new CrfInputError('lengths', `lengths[${b}] = ${L}: expected an integer in [1, T] = [1, ${T}]`);
    }
  });
}

export function checkLabels(labels: readonly (readonly number[])[], lengths: readonly number[], { B, K }: Dims, name = 'labels'): void {
  if (!Array.isArray(labels)) throw new CrfInputError(name, `expected ${B} arrays of labels in [0, ${K})`);
  if (labels.length !== B) throw new CrfInputError(name, `expected ${B} label sequences (one per sequence, B = ${B}), got ${labels.length}`);
  labels.forEach((ys, b) => {
    if (!Array.isArray(ys) || ys.length !== lengths[b]) {
      throw new CrfInputError(name, `${name}[${b}] has ${Array.isArray(ys) ? ys.length : 'no'} entries, expected lengths[${b}] = ${lengths[b]}`);
    }
    ys.forEach((y, i) => {
      if (!Number.isInteger(y) || y < 0 || y >= K) {
        throw new CrfInputError(name, `${name}[${b}][${i}] = ${y}: expected an integer label in [0, K) = [0, ${K})`);
      }
    });
  });
}

export function checkAllowed(allowed: ChainOptions['allowed'], K: number): void {
  if (allowed === undefined) return;
  const ok = Array.isArray(allowed) && allowed.length === K && allowed.every((row) => Array.isArray(row) && row.length === K);
  if (!ok) throw new CrfInputError('options.allowed', `expected a K×K = ${K}×${K} array of booleans or 0/1`);
}

export function checkIterations(n: number | undefined): void {
  if (n === undefined) return;
  if (!Number.isInteger(n) || n < 0) throw new CrfInputError('options.meanFieldIterations', `expected a non-negative integer, got ${n}`);
}

/**
 * Throws unless every potential that can matter is finite: the unaries at real positions
 * (t < length; padding may hold anything, it is masked out) and the whole pairwise matrix.
 * One boolean is read from the back end.
 */
export function checkFinite(unary: tf.Tensor3D, valid: tf.Tensor3D, pairwise?: tf.Tensor2D): void {
  const flags = tf.tidy(() =>
    tf.stack([tf.all(tf.isFinite(tf.where(valid, unary, tf.zerosLike(unary)))), pairwise ? tf.all(tf.isFinite(pairwise)) : tf.scalar(true, 'bool')]),
  );
  const [u, w] = flags.dataSync();
  flags.dispose();
  if (!u) throw new CrfInputError('unary', 'contains NaN or ±Infinity at a position t < length');
  if (!w) throw new CrfInputError('pairwise', 'contains NaN or ±Infinity');
}

/** Bool [B, T, K]: true at real positions t < lengths[b]. Built from data, never from a trainable tensor. */
export function validMask(lengths: readonly number[], { B, T, K }: Dims): tf.Tensor3D {
  const m = new Uint8Array(B * T * K);
  for (let b = 0; b < B; b++) m.fill(1, b * T * K, (b * T + lengths[b]) * K);
  return tf.tensor3d(m, [B, T, K], 'bool');
}

/** Bool [B, T, K]: true at (b, t, labels[b][t]) for t < lengths[b]. */
export function oneHotMask(labels: readonly (readonly number[])[], { B, T, K }: Dims): tf.Tensor3D {
  const m = new Uint8Array(B * T * K);
  labels.forEach((ys, b) => ys.forEach((y, t) => (m[(b * T + t) * K + y] = 1)));
  return tf.tensor3d(m, [B, T, K], 'bool');
}

/** Float [B] with 1/lengths[b]: the per-sequence normaliser of the Hamming loss and cross-entropy. */
export function inverseLengths(lengths: readonly number[]): tf.Tensor1D {
  return tf.tensor1d(lengths.map((L) => 1 / L));
}

export function isAllowed(allowed: ChainOptions['allowed'], a: number, b: number): boolean {
  return allowed === undefined || Boolean(allowed[a][b]);
}

/**
 * The pairwise matrix the model actually uses: `pairwise` where allowed, FORBIDDEN_SCORE elsewhere.
 * A `where` (not an addition) so that forbidden entries of `pairwise` get exactly zero gradient.
 */
export function effectivePairwise(pairwise: tf.Tensor2D, allowed: ChainOptions['allowed']): tf.Tensor2D {
  if (allowed === undefined) return pairwise;
  const K = pairwise.shape[0];
  const m = new Uint8Array(K * K);
  for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) m[a * K + b] = isAllowed(allowed, a, b) ? 1 : 0;
  return tf.where(tf.tensor2d(m, [K, K], 'bool'), pairwise, tf.fill([K, K], FORBIDDEN_SCORE)) as tf.Tensor2D;
}

/** The same matrix as plain numbers, for the JS Viterbi. */
export function effectivePairwiseArray(pairwise: Float32Array | number[], K: number, allowed: ChainOptions['allowed']): Float64Array {
  const w = Float64Array.from(pairwise);
  if (allowed !== undefined) for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) if (!isAllowed(allowed, a, b)) w[a * K + b] = FORBIDDEN_SCORE;
  return w;
}

/**
 * What every chain function starts from: the checked dimensions, the validity mask, the unaries
 * with padding replaced by 0 and the constrained pairwise matrix. Zeroing the padding with a
 * data-built `where` (rather than multiplying by a mask) is what keeps garbage — even NaN — in
 * padded positions out of results and gradients: `where`'s gradient to the unselected branch is an
 * exact 0, while `0 · NaN` is NaN. Call inside a tf.tidy.
 */
export interface Prepared extends Dims {
  valid: tf.Tensor3D;
  unary: tf.Tensor3D;
  pairwise: tf.Tensor2D;
}

/**
 * The checks every chain function starts with (unless `options.validate` is false): shapes, lengths,
 * `allowed`, and finite potentials (one boolean read from the back end). Returns the dimensions.
 * Call inside a tf.tidy.
 */
export function checkInputs(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: readonly number[], options: ChainOptions = {}): Dims {
  if (options.validate === false) return { B: unary.shape[0], T: unary.shape[1], K: unary.shape[2] };
  const dims = checkPotentials(unary, pairwise);
  checkLengths(lengths, dims);
  checkAllowed(options.allowed, dims.K);
  checkFinite(unary, validMask(lengths, dims), pairwise);
  return dims;
}

/** {@link prepare} on inputs already checked by {@link checkInputs}. Call inside a tf.tidy. */
export function prepareChecked(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: readonly number[], dims: Dims, allowed: ChainOptions['allowed']): Prepared {
  const valid = validMask(lengths, dims);
  return {
    ...dims,
    valid,
    unary: tf.where(valid, unary, tf.zerosLike(unary)) as tf.Tensor3D,
    pairwise: effectivePairwise(pairwise, allowed),
  };
}

export function prepare(unary: tf.Tensor3D, pairwise: tf.Tensor2D, lengths: readonly number[], options: ChainOptions = {}): Prepared {
  return prepareChecked(unary, pairwise, lengths, checkInputs(unary, pairwise, lengths, options), options.allowed);
}
