/**
 * Names of sps's own kernels (no tfjs kernel has them). A back end may register them; the model code
 * that calls one checks the registry first and otherwise computes the same thing with tfjs ops.
 */

/** One LSTM direction's recurrence and its gradient (src/models/lstm.ts; blas: src/backend/blas/kernels.ts). */
export const LSTM_RECURRENCE = 'SpsLstmRecurrence';
export const LSTM_RECURRENCE_GRAD = 'SpsLstmRecurrenceGrad';

/** One Adam step of one variable (src/train/adam.ts; blas: src/backend/blas/kernels.ts). */
export const ADAM_UPDATE = 'SpsAdamUpdate';

/**
 * The fused chain-CRF objective of one batch with each sequence's gradient, its backward (dy times
 * those), and the (loss-augmented) Viterbi decoder (src/crf/chain-fused.ts; blas: native/sps_crf.c).
 */
export const CHAIN_CRF = 'SpsChainCrf';
export const CHAIN_CRF_GRAD = 'SpsChainCrfGrad';
export const CHAIN_VITERBI = 'SpsChainViterbi';
