/**
 * Names of sps's own kernels (no tfjs kernel has them). A back end may register them; the model code
 * that calls one checks the registry first and otherwise computes the same thing with tfjs ops.
 */

/** One LSTM direction's recurrence and its gradient (src/models/lstm.ts; native: src/backend/native/kernels.ts). */
export const LSTM_RECURRENCE = 'SpsLstmRecurrence';
export const LSTM_RECURRENCE_GRAD = 'SpsLstmRecurrenceGrad';
/** Their attrs: the direction runs from the last step when `reverse`; only the final state is output when `finalOnly`. */
export interface LstmRecurrenceAttrs {
  reverse: boolean;
  finalOnly: boolean;
}

/** The gradient of a ReLU from its output, dy where y > 0 (src/models/lenet.ts's conv + bias + ReLU; native: src/backend/native/kernels.ts). */
export const RELU_GRAD = 'SpsReluGrad';

/**
 * tf.randomUniform(shape, 0, 1, 'float32', seed)'s values, bit for bit, from the state of the Alea
 * generator it would seed (src/models/dropout.ts; native: native/sps_passes.c). No inputs.
 */
export const ALEA_UNIFORM = 'SpsAleaUniform';
/** Its attrs: the generator's state [c, s0, s1, s2] after seeding, and the output's shape. */
export interface AleaUniformAttrs {
  state: [number, number, number, number];
  shape: number[];
}

/** One Adam step of one variable (src/train/adam.ts; native: src/backend/native/kernels.ts). */
export const ADAM_UPDATE = 'SpsAdamUpdate';
/**
 * Its attrs: acc = [1 − β1^t, 1 − β2^t] and constants = [β1, 1 − β1, β2, 1 − β2, ε, −lr] (src/train/adam.ts);
 * gradScale multiplies the gradient first (global-norm clipping's factor, src/train/clip.ts; 1 if absent).
 */
export interface AdamUpdateAttrs {
  acc: number[];
  constants: number[];
  gradScale?: number;
}

/**
 * Σ x² over every element of every input (any number of float32 tensors, keyed '0', '1', …), as a
 * float32 scalar: the squared global norm of gradient clipping in one call (src/train/clip.ts; native:
 * native/sps_passes.c). Equal to tfjs's sum of squares up to rounding.
 */
export const SQUARED_NORM = 'SpsSquaredNorm';

/** The fused chain-CRF kernels (src/crf/chain-fused.ts; native: native/sps_crf.c), named in sps/crf, which dispatches to them. */
export { CHAIN_CRF, CHAIN_CRF_GRAD, CHAIN_VITERBI, type ChainCrfAttrs, type ChainViterbiAttrs } from '../crf/kernel-names.js';
