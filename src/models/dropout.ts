import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { ALEA_UNIFORM, type AleaUniformAttrs } from '../backend/kernel-names.js';

/**
 * tf.dropout(x, rate, undefined, seed), the same values and gradient bit for bit, with the mask's
 * uniform draws made by the back end's Alea kernel where it has one. tf.randomUniform draws them one
 * element at a time in JavaScript, which was about 7 % of an OCR epoch on the native back end.
 *
 * The mask follows tf.dropout: x · floor(u + keep) / keep with keep = 1 − rate and u the seeded uniform
 * stream (seedrandom's Alea, seeded by the seed's decimal string, as tfjs's UniformRandom does).
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  if (rate === 0 || tf.getKernel(ALEA_UNIFORM, tf.getBackend()) === undefined) return tf.dropout(x, rate, undefined, seed) as T;
  return tf.tidy(() => {
    const attrs: AleaUniformAttrs = { state: aleaState(seed), shape: [...x.shape] };
    const u = tf.engine().runKernel(ALEA_UNIFORM, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    const keep = 1 - rate;
    return tf.mul(x, tf.div(tf.floor(tf.add(u, keep)), keep)) as T;
  });
}

/** The state [c, s0, s1, s2] of the Alea generator tfjs's UniformRandom seeds from `seed` (its decimal string). */
export function aleaState(seed: number): AleaUniformAttrs['state'] {
  const s = seedrandom.alea(String(seed), { state: true }).state() as { c: number; s0: number; s1: number; s2: number };
  return [s.c, s.s0, s.s1, s.s2];
}
