/**
 * Global-norm gradient clipping (`train.grad_clip`; Pascanu, Mikolov & Bengio 2013, §3.2): every
 * gradient is multiplied by min(1, c / (‖g‖ + 10⁻¹²)), with ‖g‖ the L2 norm of all of them together.
 *
 * Where the back end registers SQUARED_NORM (native) the norm is one kernel call, and where the
 * optimizer is the fused Adam the factor is applied inside its kernel: two calls in place of about
 * thirty small ones. Elsewhere tf.square, tf.sum and tf.addN give the norm and tf.mul the product,
 * the same float32 operations as before either existed, so cpu and wasm runs keep their bits.
 */
import * as tf from '@tensorflow/tfjs';
import { SQUARED_NORM } from '../backend/kernel-names.js';
import type { FusedAdam } from './adam.js';

/** The factor min(1, c / (‖g‖ + 10⁻¹²)) as a float32 value, for gradients `grads` and c = `maxNorm`. */
export function clipFactor(grads: readonly tf.Tensor[], maxNorm: number): number {
  const squared = tf.tidy(() =>
    tf.getKernel(SQUARED_NORM, tf.getBackend())
      ? (tf.engine().runKernel(SQUARED_NORM, Object.fromEntries(grads.map((g, i) => [String(i), g])), {}) as tf.Scalar)
      : tf.addN(grads.map((g) => tf.sum(tf.square(g)))),
  );
  const sq = squared.dataSync()[0];
  squared.dispose();
  // tf.sqrt, tf.add, tf.div and tf.minimum on float32 scalars, in that order: each a correctly
  // rounded float32 operation, which Math.fround of the double operation on float32 values is.
  const norm = Math.fround(Math.sqrt(sq));
  return Math.min(1, Math.fround(Math.fround(maxNorm) / Math.fround(norm + Math.fround(1e-12))));
}

/** `optimizer.applyGradients(grads)`, the gradients clipped to global norm `maxNorm` first unless it is null. */
export function applyClipped(optimizer: tf.Optimizer, grads: tf.NamedTensorMap, maxNorm: number | null): void {
  if (maxNorm === null) return optimizer.applyGradients(grads);
  const factor = clipFactor(Object.values(grads), maxNorm);
  // (Not instanceof: tf.Optimizer's Symbol.hasInstance accepts any optimizer.)
  const fused = (optimizer as Partial<FusedAdam>).applyScaledGradients;
  if (fused) return fused.call(optimizer, grads, factor);
  // g · 1 = g exactly, so an unclipped step skips the products.
  if (factor === 1) return optimizer.applyGradients(grads);
  tf.tidy(() => optimizer.applyGradients(Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, factor)]))));
}
