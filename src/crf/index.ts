/**
 * `sps/crf`: differentiable structured-prediction layers for TensorFlow.js (docs/model.md §2–4).
 *
 *   import { chain, gaussian, scaling } from 'sps/crf';
 *   const nll = chain.loss('log-likelihood', unary, pairwise, labels, lengths); // [B]
 *
 * Scores, not energies: higher is more likely; pairwise[a][b] scores label a followed by label b.
 * `reference` holds the plain-JS float64 implementations the tensor code is tested against.
 */
export * as chain from './chain.js';
export * as gaussian from './gaussian.js';
export * as scaling from './scaling.js';
export * as reference from './reference.js';
export { OBJECTIVES, type Objective } from './types.js';
