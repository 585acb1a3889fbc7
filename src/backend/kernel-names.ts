/**
 * Names of sps's own kernels (no tfjs kernel has them). A back end may register them; the model code
 * that calls one checks the registry first and otherwise computes the same thing with tfjs ops.
 */

/** One LSTM direction's recurrence and its gradient (src/models/lstm.ts; blas: src/backend/blas/kernels.ts). */
export const LSTM_RECURRENCE = 'SpsLstmRecurrence';
export const LSTM_RECURRENCE_GRAD = 'SpsLstmRecurrenceGrad';

/** The gradient of a ReLU from its output, dy where y > 0 (src/models/lenet.ts's conv + bias + ReLU; blas: src/backend/blas/kernels.ts). */
export const RELU_GRAD = 'SpsReluGrad';

/** One Adam step of one variable (src/train/adam.ts; blas: src/backend/blas/kernels.ts). */
export const ADAM_UPDATE = 'SpsAdamUpdate';

/** The fused chain-CRF kernels (src/crf/chain-fused.ts; blas: native/sps_crf.c), named in sps/crf, which dispatches to them. */
export { CHAIN_CRF, CHAIN_CRF_GRAD, CHAIN_VITERBI } from '../crf/kernel-names.js';
