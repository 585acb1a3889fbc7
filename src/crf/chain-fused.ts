/**
 * The chain CRF on a back end's fused kernels (docs/native-kernels.md, "Fused CRF kernels"): where the
 * active back end registers CHAIN_CRF (the `native` back end: native/sps_crf.c), an objective of
 * docs/model.md §2 and each sequence's gradient are one kernel call per batch, and the backward
 * is one more (dy times those gradients); Viterbi is one call too. The kernels compute in float64
 * from the float32 potentials, by the recursions of chain-logpartition.ts, chain-crossentropy.ts,
 * chain-meanfield.ts and chain.ts (viterbiArrays), so their results equal the tfjs-composed path's
 * up to float32 rounding. That path stays: for other back ends, with `fused: false`, and where a
 * kernel declines (a probability-space normaliser or gold marginal underflows).
 *
 * The inputs go in as they are: the kernels read only t < lengths[b] (padding may hold anything, its
 * gradient is exactly 0) and apply `allowed` themselves (forbidden transitions score FORBIDDEN_SCORE
 * and get no gradient), so none of `prepare`'s tensors are needed.
 */
import * as tf from '@tensorflow/tfjs';
import { CHAIN_CRF, CHAIN_CRF_GRAD, CHAIN_VITERBI, type ChainCrfAttrs, type ChainViterbiAttrs } from './kernel-names.js';
import type { Objective } from './types.js';
import { type ChainOptions, type Dims, isAllowed } from './validate.js';

/** What CHAIN_CRF computes: a loss of docs/model.md §2, or log Z (whose gradient is the marginals). */
export type FusedTarget = Objective | 'log-partition';

/** The objective codes of native/sps_crf.c. */
const CODES: Readonly<Record<FusedTarget, number>> = { 'log-partition': 0, 'log-likelihood': 1, 'cross-entropy': 2, 'cross-entropy-mf': 3, ssvm: 4 };

/** Whether calls with these options run on the fused kernel `kernel` of the active back end. */
function fusedOn(options: ChainOptions, kernel: string): boolean {
  return options.fused !== false && tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

/** Per-sequence labels [B][≤ T] as one Int32Array [B·T] (0 beyond each sequence's length; never read). */
function packLabels(labels: readonly (readonly number[])[], { B, T }: Dims): Int32Array {
  const out = new Int32Array(B * T);
  labels.forEach((ys, b) => out.set(ys, b * T));
  return out;
}

/** `allowed` as an Int32Array [K·K] of 0/1, or null for no constraints. */
function packAllowed(allowed: ChainOptions['allowed'], K: number): Int32Array | null {
  if (allowed === undefined) return null;
  const out = new Int32Array(K * K);
  for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) out[a * K + b] = isAllowed(allowed, a, b) ? 1 : 0;
  return out;
}

export interface FusedInputs {
  labels?: readonly (readonly number[])[];
  maximiser?: readonly (readonly number[])[];
  iterations?: number;
}

/**
 * `target` per sequence ([B]) on the fused kernel, differentiable with respect to unary and pairwise,
 * or null when the back end has no such kernel, `options.fused` is false, or the kernel declined.
 * The inputs must have been checked (checkInputs, checkLabels). Call inside tf.tidy.
 */
export function fusedObjective(
  target: FusedTarget,
  unary: tf.Tensor3D,
  pairwise: tf.Tensor2D,
  lengths: readonly number[],
  dims: Dims,
  options: ChainOptions,
  inputs: FusedInputs = {},
): tf.Tensor1D | null {
  if (!(target in CODES) || !fusedOn(options, CHAIN_CRF)) return null;
  const attrs = {
    objective: CODES[target],
    iterations: inputs.iterations ?? 0,
    lengths: Int32Array.from(lengths),
    labels: inputs.labels ? packLabels(inputs.labels, dims) : null,
    allowed: packAllowed(options.allowed, dims.K),
    maximiser: inputs.maximiser ? packLabels(inputs.maximiser, dims) : null,
  } satisfies ChainCrfAttrs as unknown as tf.NamedAttrMap;
  const [value, gU, gW, status] = tf.engine().runKernel(CHAIN_CRF, { unary, pairwise }, attrs) as tf.Tensor[];
  if (status.dataSync()[0] !== 0) return null;
  // CHAIN_CRF has no gradient of its own: this op carries the per-sequence gradients it returned,
  // scaled by dy (CHAIN_CRF_GRAD), back to unary and pairwise.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[2] as tf.GradSaveFunc;
    save([gU, gW]);
    return {
      value: tf.clone(value),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(CHAIN_CRF_GRAD, { dy, gU: saved[0], gW: saved[1] }) as tf.Tensor[],
    };
  });
  return op(unary, pairwise) as tf.Tensor1D;
}

/**
 * The (loss-augmented, against `gold`) Viterbi labelling of each sequence on the fused kernel, or
 * null when the back end has none or `options.fused` is false. Ties go to the smallest label, as in
 * chain.ts. The inputs must have been checked.
 */
export function fusedViterbi(
  unary: tf.Tensor3D,
  pairwise: tf.Tensor2D,
  lengths: readonly number[],
  dims: Dims,
  options: ChainOptions,
  gold?: readonly (readonly number[])[],
): number[][] | null {
  if (!fusedOn(options, CHAIN_VITERBI)) return null;
  const attrs = {
    lengths: Int32Array.from(lengths),
    allowed: packAllowed(options.allowed, dims.K),
    gold: gold ? packLabels(gold, dims) : null,
  } satisfies ChainViterbiAttrs as unknown as tf.NamedAttrMap;
  const out = tf.engine().runKernel(CHAIN_VITERBI, { unary, pairwise }, attrs) as tf.Tensor;
  const ys = out.dataSync() as Int32Array;
  out.dispose();
  return lengths.map((L, b) => Array.from(ys.subarray(b * dims.T, b * dims.T + L)));
}
