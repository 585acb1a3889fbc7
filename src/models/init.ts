/**
 * Seeded parameter initialisers and the small parameter container the model factories share.
 *
 * Every initial value is drawn in JS from the run's {@link Rng} (never from tfjs's own random ops),
 * so the same seed gives bit-identical initial weights on every back end: the cpu-vs-wasm tests
 * start from the same point, and a run's seed fixes its initialisation.
 *
 * Schemes (fan_in = inputs per output unit, k·k·c_in for a k×k conv):
 * - `he`:     normal, std = √(2 / fan_in)                 (ReLU layers; Kaiming/He 2015)
 * - `glorot`: uniform, ±√(6 / (fan_in + fan_out))         (linear / tanh layers; Glorot & Bengio 2010)
 * - `torch`:  uniform, ±1/√fan_in, for weights *and* biases (PyTorch's nn.Linear / nn.Conv2d default,
 *             kaiming_uniform(a=√5); the paper's reference code ran on PyTorch)
 * - `orthogonal`: a matrix with orthonormal rows or columns (recurrent LSTM weights; Saxe et al. 2014,
 *             Keras's default for recurrent kernels)
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.js';

export type InitScheme = 'he' | 'glorot' | 'torch';

/** A model as the training code sees it. */
export interface ModelBase {
  /** The trainable variables, in a fixed order: hand these to the optimiser (`varList`). */
  params: tf.Variable[];
  /** Every variable by name, trainable or frozen (e.g. a frozen pre-trained embedding). */
  variables: Record<string, tf.Variable>;
  /** Dispose every variable. The model is unusable afterwards. */
  dispose(): void;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** n draws of N(0, std²). */
export function normalArray(rng: Rng, n: number, std: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
  return a;
}

/** n draws of U(−limit, limit). */
export function uniformArray(rng: Rng, n: number, limit: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * rng.next() - 1) * limit;
  return a;
}

/**
 * Initial weights of a layer with `fanIn` inputs and `fanOut` outputs per unit under `scheme`,
 * multiplied by `scale`.
 */
export function initWeights(rng: Rng, shape: readonly number[], fanIn: number, fanOut: number, scheme: InitScheme, scale = 1): Float32Array {
  const n = size(shape);
  switch (scheme) {
    case 'he':
      return normalArray(rng, n, scale * Math.sqrt(2 / fanIn));
    case 'glorot':
      return uniformArray(rng, n, scale * Math.sqrt(6 / (fanIn + fanOut)));
    case 'torch':
      return uniformArray(rng, n, scale / Math.sqrt(fanIn));
  }
}

/** Initial bias: zeros, except under `torch` (U(±1/√fan_in), PyTorch's default), times `scale`. */
export function initBias(rng: Rng, n: number, fanIn: number, scheme: InitScheme, scale = 1): Float32Array {
  return scheme === 'torch' ? uniformArray(rng, n, scale / Math.sqrt(fanIn)) : new Float32Array(n);
}

/**
 * A [rows, cols] matrix with orthonormal columns (rows ≥ cols) or rows (rows < cols), times `gain`:
 * modified Gram–Schmidt on a Gaussian matrix, in float64.
 */
export function orthogonalArray(rng: Rng, rows: number, cols: number, gain = 1): Float32Array {
  const tall = rows >= cols;
  const [n, m] = tall ? [rows, cols] : [cols, rows]; // n ≥ m: orthonormalise m vectors of length n
  const v: Float64Array[] = Array.from({ length: m }, () => Float64Array.from({ length: n }, () => rng.normal()));
  for (let j = 0; j < m; j++) {
    for (let k = 0; k < j; k++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += v[j][i] * v[k][i];
      for (let i = 0; i < n; i++) v[j][i] -= d * v[k][i];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[j][i] * v[j][i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) v[j][i] /= norm;
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? v[c][r] : v[r][c]);
  return out;
}

/**
 * Collects named variables as a model creates them. `add` takes ownership of the values (a typed
 * array or a tensor, which is disposed after being copied into the variable).
 */
export class ParamStore {
  readonly variables: Record<string, tf.Variable> = {};
  private readonly order: string[] = [];

  add(name: string, value: Float32Array | tf.Tensor, shape: number[], trainable = true): tf.Variable {
    if (name in this.variables) throw new Error(`duplicate parameter name ${name}`);
    const t = value instanceof Float32Array ? tf.tensor(value, shape, 'float32') : value;
    if (!(value instanceof Float32Array) && t.shape.join() !== shape.join()) throw new Error(`parameter ${name}: shape [${t.shape}] ≠ [${shape}]`);
    const v = tf.variable(t, trainable);
    t.dispose();
    this.variables[name] = v;
    this.order.push(name);
    return v;
  }

  /** Adopt every variable of another store under `prefix/`. */
  adopt(prefix: string, other: { variables: Record<string, tf.Variable> }): void {
    for (const [k, v] of Object.entries(other.variables)) {
      const name = `${prefix}/${k}`;
      if (name in this.variables) throw new Error(`duplicate parameter name ${name}`);
      this.variables[name] = v;
      this.order.push(name);
    }
  }

  base(): ModelBase {
    const variables = this.variables;
    const order = [...this.order];
    return {
      params: order.map((k) => variables[k]).filter((v) => v.trainable),
      variables,
      dispose: () => {
        for (const k of order) if (!variables[k].isDisposed) variables[k].dispose();
      },
    };
  }
}
