/**
 * The linear-chain side shared by the chain tasks (OCR, chunking): a task supplies its unary network
 * and a free pairwise matrix; this turns them into the trainer's StructuredProblem (docs/model.md §2–§4)
 * and decodes with the mode's potentials (MAP by Viterbi, or per-position max-marginals).
 */
import * as tf from '@tensorflow/tfjs';
import * as chain from '../crf/chain.js';
import { norm } from '../crf/scaling.js';
import type { PotentialTransform, StructuredProblem } from '../core/problem.js';
import { disposePotentials } from './trainer.js';

/** What a chain task's batch must carry. */
export interface ChainBatch {
  labels: number[][];
  lengths: number[];
  /** 1 at real positions: [B, T, 1] (for ‖U‖ without the padding). */
  mask: tf.Tensor3D;
}

export interface ChainProblemOptions {
  meanFieldIterations: number;
  /** K×K allowed transitions (e.g. BIO); undefined: all allowed. */
  allowed?: boolean[][];
}

/**
 * A StructuredProblem for a chain CRF with unary scores `unary(batch)` [B, T, K] and the K×K matrix
 * `pairwise`. ‖U‖ is taken over real positions only; ‖W‖ over the matrix.
 */
export function chainProblem<B extends ChainBatch>(
  unaryParams: tf.Variable[],
  pairwise: tf.Variable,
  unary: (batch: B) => tf.Tensor3D,
  o: ChainProblemOptions,
): StructuredProblem<B> {
  const opts = { validate: false, meanFieldIterations: o.meanFieldIterations, allowed: o.allowed };
  return {
    unaryParams,
    pairwiseParams: [pairwise],
    potentials: (b) => ({ unary: unary(b), pairwise }),
    loss: (objective, p, b, maximiser) => chain.loss(objective, p.unary as tf.Tensor3D, p.pairwise as tf.Tensor2D, b.labels, b.lengths, { ...opts, maximiser }),
    maximiser: (p, b) =>
      chain.lossAugmentedViterbi(p.unary as tf.Tensor3D, p.pairwise as tf.Tensor2D, b.labels, b.lengths, { validate: false, allowed: o.allowed }).labels,
    unaryLoss: (p, b) => chain.unaryCrossEntropy(p.unary as tf.Tensor3D, b.labels, b.lengths, { validate: false }),
    norms: (p, b, kind, over) => ({ unary: norm(p.unary, kind, { mask: b.mask, perExample: over === 'example' }), pairwise: norm(p.pairwise, kind) }),
    // A per-example pairwise factor [B] has no per-example W to act on (W is shared): its mean is used.
    rescale: (p, a, c) => ({
      unary: tf.mul(p.unary, a.rank === 1 ? tf.reshape(a, [-1, 1, 1]) : a),
      pairwise: tf.mul(p.pairwise, c.rank === 1 ? tf.mean(c) : c),
    }),
  };
}

/** Decode one batch with the potentials of `transform`: Viterbi (`map`) or max-marginals. */
export function decodeChain<B extends ChainBatch>(
  problem: StructuredProblem<B>,
  transform: PotentialTransform<B>,
  b: B,
  how: 'map' | 'max-marginal',
  allowed?: boolean[][],
): number[][] {
  if (how === 'map') {
    const [unary, pairwise] = tf.tidy(() => {
      const p = transform(problem.potentials(b), b);
      return [p.unary, p.pairwise];
    });
    try {
      return chain.viterbi(unary as tf.Tensor3D, pairwise as tf.Tensor2D, b.lengths, { validate: false, allowed }).labels;
    } finally {
      disposePotentials({ unary, pairwise });
    }
  }
  const marg = tf.tidy(() => {
    const p = transform(problem.potentials(b), b);
    return chain.marginals(p.unary as tf.Tensor3D, p.pairwise as tf.Tensor2D, b.lengths, { validate: false, allowed });
  });
  try {
    return chain.decodeMarginals(marg, b.lengths);
  } finally {
    marg.dispose();
  }
}

/** Decode `items` in batches of `size` built by `makeBatch` (disposed by `dispose`). */
export function decodeAll<T, B extends ChainBatch>(
  items: readonly T[],
  size: number,
  makeBatch: (items: T[]) => B,
  dispose: (b: B) => void,
  decodeOne: (b: B) => number[][],
): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < items.length; s += size) {
    const b = makeBatch(items.slice(s, s + size));
    try {
      out.push(...decodeOne(b));
    } finally {
      dispose(b);
    }
  }
  return out;
}
