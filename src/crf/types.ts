/**
 * Types `sps/crf` owns. The runner's config builds on these (src/core/constants.ts re-exports
 * them), never the other way round, so the CRF layer stays usable without the experiment runner.
 */

/** The chain-CRF training objectives, docs/model.md §2. */
export const OBJECTIVES = ['cross-entropy', 'ssvm', 'log-likelihood', 'cross-entropy-mf'] as const;
export type Objective = (typeof OBJECTIVES)[number];
