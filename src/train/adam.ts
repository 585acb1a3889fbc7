/**
 * Adam whose per-variable step is one kernel (ADAM_UPDATE) where the back end registers it (native),
 * in place of the ten or so element-wise kernels of tfjs's AdamOptimizer. The kernel does tfjs's
 * float32 operations in tfjs's order, so the weights are the same to the bit (test/adam.test.ts).
 * Kingma & Ba (2015), Algorithm 1, with ε added to √v̂ as tfjs does.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, type AdamUpdateAttrs } from '../backend/kernel-names.js';

const BETA1 = 0.9;
const BETA2 = 0.999;

export class FusedAdam extends tf.Optimizer {
  static get className(): string {
    return 'SpsFusedAdam';
  }

  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  /**
   * β1^t and β2^t as tfjs keeps them, in float32 (products of float32 values are exact in a double,
   * so Math.fround of the double product is the float32 product): no tensors, no kernels.
   */
  private accBeta1 = Math.fround(BETA1);
  private accBeta2 = Math.fround(BETA2);
  /** [β1, 1 − β1, β2, 1 − β2, ε, −lr], each rounded to float32 by the kernel as tfjs's scalars are. */
  private readonly constants: number[];

  constructor(private readonly learningRate: number) {
    super();
    this.constants = [BETA1, 1 - BETA1, BETA2, 1 - BETA2, tf.backend().epsilon(), -learningRate];
  }

  applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    this.applyScaledGradients(variableGradients, 1);
  }

  /**
   * The step for the gradients multiplied by `scale` (global-norm clipping's factor, src/train/clip.ts),
   * the product taken inside the kernel: the same float32 product as tf.mul(g, scale), without a pass.
   */
  applyScaledGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[], scale: number): void {
    const named = Array.isArray(variableGradients) ? variableGradients.map((g) => [g.name, g.tensor] as const) : Object.entries(variableGradients);
    // [1 − β1^t, 1 − β2^t], as tfjs computes them (float32 subtractions; exact in a double, then rounded).
    const attrs = {
      constants: this.constants,
      acc: [Math.fround(1 - this.accBeta1), Math.fround(1 - this.accBeta2)],
      gradScale: scale,
    } satisfies AdamUpdateAttrs as unknown as tf.NamedAttrMap;
    tf.tidy(() => {
      for (const [name, gradient] of named) {
        if (gradient == null) continue;
        const value = tf.engine().registeredVariables[name];
        let state = this.moments.get(name);
        if (!state) {
          state = tf.tidy(() => ({ m: tf.variable(tf.zerosLike(value), false), v: tf.variable(tf.zerosLike(value), false) }));
          this.moments.set(name, state);
        }
        const [w2, m2, v2] = tf.engine().runKernel(ADAM_UPDATE, { value, m: state.m, v: state.v, g: gradient }, attrs) as tf.Tensor[];
        state.m.assign(m2);
        state.v.assign(v2);
        value.assign(w2);
      }
    });
    this.accBeta1 = Math.fround(this.accBeta1 * Math.fround(BETA1));
    this.accBeta2 = Math.fround(this.accBeta2 * Math.fround(BETA2));
    this.incrementIterations();
  }

  override dispose(): void {
    for (const { m, v } of this.moments.values()) tf.dispose([m, v]);
    this.moments.clear();
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: BETA1, beta2: BETA2, epsilon: this.constants[4] };
  }
}

/** Adam at `lr`: FusedAdam where the active back end has the fused kernel, tfjs's AdamOptimizer elsewhere. */
export function adam(lr: number): tf.Optimizer {
  return tf.getKernel(ADAM_UPDATE, tf.getBackend()) ? new FusedAdam(lr) : tf.train.adam(lr);
}
