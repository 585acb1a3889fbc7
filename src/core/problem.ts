/**
 * What the trainer asks of a task's model (`StructuredProblem`) and data (`TrainData`), and the
 * potentials they exchange: the interface between a task, the modes (core/modes.ts) and the trainer
 * (train/trainer.ts). Types only, so the modes read them without loading TensorFlow.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Objective } from '../crf/types.js';
import type { NormKind, NormOver } from '../crf/scaling.js';

export interface Potentials {
  unary: tf.Tensor;
  pairwise: tf.Tensor;
}

/** What a task's model offers the trainer. Every method is called inside tf.tidy. */
export interface StructuredProblem<B> {
  unaryParams: tf.Variable[];
  pairwiseParams: tf.Variable[];
  /** Raw potentials of a batch. */
  potentials(batch: B): Potentials;
  /**
   * The structured loss of each example under `objective` (§2, §3). `maximiser`: ssvm's Y*, when the
   * trainer decoded it on other potentials (`train.ssvm_maximiser: dropout-free`).
   */
  loss(objective: Objective, p: Potentials, batch: B, maximiser?: number[][]): tf.Tensor1D;
  /** ssvm's loss-augmented maximiser Y* (eq. 6) on `p`; needed by `train.ssvm_maximiser: dropout-free`. */
  maximiser?(p: Potentials, batch: B): number[][];
  /** Stage (1): per-position cross-entropy of the unary scores alone. */
  unaryLoss(p: Potentials, batch: B): tf.Tensor1D;
  /** ‖U‖ and ‖W‖ (scalars, or [B] per example), ignoring padding. */
  norms(p: Potentials, batch: B, kind: NormKind, over: NormOver): { unary: tf.Tensor; pairwise: tf.Tensor };
  /** U·a and W·c, with a and c scalars or [B] (per example). */
  rescale(p: Potentials, unaryFactor: tf.Tensor, pairwiseFactor: tf.Tensor): Potentials;
  /**
   * Told `true` before each training step and `false` after it: a model with dropout drops units in
   * the step only, never in validation, the α search, the norm log or on the test set.
   */
  setTraining?(on: boolean): void;
}

export interface TrainData<B> {
  /** Number of training examples. */
  trainSize: number;
  /** Build a batch of training examples (tensors the trainer disposes through `dispose`). */
  batch(indices: number[]): B;
  dispose(batch: B): void;
  /** The selection subset of online scaling (and of the norm log), already batched. */
  selection: B[];
  /**
   * Validation metrics (%), computed with the mode's potentials. The first one is the task's primary
   * metric (higher is better): `train.select: best-val` selects the epoch on it.
   */
  validate(transform: PotentialTransform<B>): Record<string, number>;
}

export type PotentialTransform<B> = (p: Potentials, batch: B) => Potentials;
