/** The CRF's defaults that config schemas name, in a module without TensorFlow so that checking a config loads none. */

/**
 * Default number of mean-field iterations (one iteration = an even half-step then an odd one).
 * Measured on random chains with the float64 reference (docs/crf-chain.md): with pairwise scores
 * weaker than the unaries, 3 iterations are within 1e-4 of the fixed point; with both of the same
 * scale the median distance after 10 iterations is 1e-3 … 3e-5; with pairwise 4× stronger it is
 * ~0.1 (5e-6 after 30), and the slowest tenth of frustrated random chains needs 20–30+. 10 is the
 * compromise: the unrolled graph (~240 ops, independent of T) costs about what forward–backward
 * costs on an OCR word, and the loss is defined as the cross-entropy *after* this
 * many differentiable iterations, so non-convergence changes the model, not the correctness of the
 * gradient. Configurable per call (`meanFieldIterations`).
 */
export const DEFAULT_MEAN_FIELD_ITERATIONS = 10;
