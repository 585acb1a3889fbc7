/**
 * The names of the fused chain-CRF kernels a back end may register (the native back end does:
 * src/backend/native/kernels.ts, native/sps_crf.c). They live in sps/crf, which dispatches to them
 * (chain-fused.ts) and imports nothing outside itself but tfjs; src/backend/kernel-names.ts
 * re-exports them with sps's other kernel names.
 */

/** The fused chain-CRF objective of one batch, with each sequence's gradient. */
export const CHAIN_CRF = 'SpsChainCrf';
/** Its backward: dy times those gradients. */
export const CHAIN_CRF_GRAD = 'SpsChainCrfGrad';
/** The (loss-augmented) Viterbi decoder. */
export const CHAIN_VITERBI = 'SpsChainViterbi';
