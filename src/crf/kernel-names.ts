/**
 * The names of the fused chain-CRF kernels a back end may register (the native back end does:
 * src/backend/native/kernels.ts, native/sps_crf.c). They live in sps/crf, which dispatches to them
 * (chain-fused.ts) and imports nothing outside itself but tfjs; src/backend/kernel-names.ts
 * re-exports them with sps's other kernel names.
 */

/** The fused chain-CRF objective of one batch, with each sequence's gradient. */
export const CHAIN_CRF = 'SpsChainCrf';
/** Its attrs (chain-fused.ts packs them): the objective's code, mean-field iterations, and int32 lengths [B], labels [B·T], allowed [K·K], maximiser [B·T] (the last three may be null). */
export interface ChainCrfAttrs {
  objective: number;
  iterations?: number;
  lengths: Int32Array;
  labels?: Int32Array | null;
  allowed?: Int32Array | null;
  maximiser?: Int32Array | null;
}
/** Its backward: dy times those gradients. */
export const CHAIN_CRF_GRAD = 'SpsChainCrfGrad';
/** The (loss-augmented) Viterbi decoder. */
export const CHAIN_VITERBI = 'SpsChainViterbi';
/** Its attrs: int32 lengths [B], allowed [K·K] and the gold labels [B·T] of loss augmentation (both may be null). */
export interface ChainViterbiAttrs {
  lengths: Int32Array;
  allowed?: Int32Array | null;
  gold?: Int32Array | null;
}
