/**
 * LeNet-style CNN for the OCR task's unary potentials (docs/model.md §5): one 16×8 binary letter image
 * → K scores. Architecture, for `conv: [c1, c2]`, `fc: [f1, …]`:
 *
 *   conv k×k·c1 + bias → ReLU → maxPool p×p (stride p)
 *   conv k×k·c2 + bias → ReLU → maxPool p×p (stride p)
 *   flatten → [FC f_i + bias → ReLU]* → FC K + bias          (scores, no softmax)
 *
 * Padding: 16×8 is too small for two *valid* 5×5 convolutions with 2×2 pools (16×8 → 12×4 → 6×2 →
 * a 5×5 kernel no longer fits), so the default is `'same'` (16×8 → 8×4 → 4×2 ×c2 features).
 * `'valid'` is accepted for larger inputs and rejected with a clear error when a map would vanish.
 *
 * ReLU comes before each maxPool: besides being the usual order, wasm's MaxPoolGrad drops the
 * gradient of windows whose maximum is negative (docs/backends.md), which ReLU rules out.
 *
 * Convolutions and hidden FC layers are fused ops (`tf.fused.conv2d` / `tf.fused.matMul` with bias
 * and ReLU). tfjs fuses them only outside gradient recording (in training it runs conv, add and relu,
 * and differentiates the relu as dy · step(x), two more passes); where the back end registers
 * RELU_GRAD (native), a convolution is one op with its own gradient instead (`convBiasRelu`): the
 * fused kernel forward, the ReLU's gradient from the output in one pass, and the two convolution
 * gradients (the first layer's input gradient is skipped: the input is data).
 *
 * Dropout (`dropout`, a rate p; 0 by default): in training only, each input of an FC layer (the
 * flattened conv features and every hidden FC activation) is zeroed with probability p and the rest
 * scaled by 1/(1 − p), so evaluation needs no rescaling.
 *
 * Initialisation (`init`, see init.ts): `he` (default) — He-normal weights for the ReLU layers and
 * Glorot-uniform for the linear output layer, biases 0; or `torch` — PyTorch's default
 * U(±1/√fan_in) for all weights and biases. `outputScale` multiplies the output layer's initial
 * weights and bias: the paper's claim is about the relative scale of unary and pairwise potentials,
 * and the unary scale at initialisation is set here.
 */
import * as tf from '@tensorflow/tfjs';
import { Conv2DBackpropFilter, Conv2DBackpropInput, FusedConv2D } from '@tensorflow/tfjs';
import { RELU_GRAD } from '../backend/kernel-names.js';
import type { Rng } from '../util/rng.js';
import { type InitScheme, type ModelBase, ParamStore, initBias, initWeights } from './init.js';
import { LENET_PRESETS } from './lenet-presets.js';
import { dropout } from './dropout.js';

export { LENET_PRESETS };

export interface LeNetOptions {
  /** Output channels of the two convolutions. */
  conv: number[];
  /** Hidden fully connected layer sizes (the K-way output layer is added after them). */
  fc: number[];
  /** Square convolution kernel size. */
  kernel: number;
  /** Max-pool window and stride. */
  pool: number;
  padding: 'same' | 'valid';
  /** K, the number of scores per image. */
  classes: number;
  /** [height, width, channels] of one image. */
  inputShape: [number, number, number];
  init: InitScheme;
  /** Multiplies the initial weights (and bias) of the output layer. */
  outputScale: number;
  /** Dropout rate on the inputs of the FC layers, in training only. */
  dropout: number;
}

export type LeNetPreset = keyof typeof LENET_PRESETS;

export const LENET_DEFAULTS: LeNetOptions = {
  ...LENET_PRESETS['lenet20-50-500'],
  conv: [...LENET_PRESETS['lenet20-50-500'].conv],
  fc: [...LENET_PRESETS['lenet20-50-500'].fc],
  kernel: 5,
  pool: 2,
  padding: 'same',
  classes: 26,
  inputShape: [16, 8, 1],
  init: 'he',
  outputScale: 1,
  dropout: 0,
};

export interface LeNet extends ModelBase {
  readonly options: LeNetOptions;
  /**
   * x [N, H, W, C] → scores [N, classes]. Call inside tf.tidy / optimizer.minimize. With `training`,
   * dropout is on and draws its mask from `training.seed()` (a seeded stream, so runs repeat).
   */
  apply(x: tf.Tensor4D, training?: { seed(): number }): tf.Tensor2D;
  /** Forward FLOPs (multiply-adds × 2 of the convs and FC layers; bias, ReLU and pooling not counted) for N = batchShape[0] images. */
  flops(batchShape: readonly number[]): number;
}

/**
 * relu(conv(x, w, stride 1, pad) + b) as one differentiable op on a back end with RELU_GRAD: forward
 * the FusedConv2D kernel; backward g = dy where y > 0, then dx (only with `inputGrad`), dw and
 * db = Σ g over the batch and pixels. The same function as tf.fused.conv2d's, summed in another order.
 */
function convBiasRelu(pad: 'same' | 'valid', inputGrad: boolean): (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) => tf.Tensor4D {
  const attrs = { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const y = tf.engine().runKernel(FusedConv2D, { x, filter: w, bias: b }, { ...attrs, activation: 'relu' }) as tf.Tensor4D;
    save([x, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [xs, ws, ys]: tf.Tensor[]) => {
        const g = tf.engine().runKernel(RELU_GRAD, { dy, y: ys }, {}) as tf.Tensor4D;
        const dx = inputGrad
          ? (tf.engine().runKernel(Conv2DBackpropInput, { dy: g, filter: ws }, { ...attrs, inputShape: xs.shape }) as tf.Tensor)
          : tf.zerosLike(xs);
        const dw = tf.engine().runKernel(Conv2DBackpropFilter, { x: xs, dy: g }, { ...attrs, filterShape: ws.shape }) as tf.Tensor;
        return [dx, dw, tf.sum(g, [0, 1, 2])];
      },
    };
  }) as (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) => tf.Tensor4D;
}

/** Spatial size after a conv (stride 1) and a pool; throws if the map would vanish. */
function convPoolSize(h: number, w: number, o: LeNetOptions, layer: number): [number, number] {
  const [ch, cw] = o.padding === 'same' ? [h, w] : [h - o.kernel + 1, w - o.kernel + 1];
  const [ph, pw] = [Math.floor(ch / o.pool), Math.floor(cw / o.pool)];
  if (ch < 1 || cw < 1 || ph < 1 || pw < 1) {
    throw new Error(
      `LeNet: conv ${layer + 1} (${o.kernel}×${o.kernel}, padding '${o.padding}') + pool ${o.pool} on a ${h}×${w} map leaves ${Math.max(ph, 0)}×${Math.max(pw, 0)}; ` +
        `use padding 'same' (16×8 letters are too small for two valid 5×5 convolutions) or a smaller kernel/pool`,
    );
  }
  return [ph, pw];
}

/** Options from a preset name or partial options (unspecified fields take {@link LENET_DEFAULTS}). */
export function lenetOptions(options: LeNetPreset | Partial<LeNetOptions> = {}): LeNetOptions {
  const o =
    typeof options === 'string'
      ? { ...LENET_DEFAULTS, conv: [...LENET_PRESETS[options].conv], fc: [...LENET_PRESETS[options].fc] }
      : { ...LENET_DEFAULTS, ...options };
  if (!(o.dropout >= 0 && o.dropout < 1)) throw new Error(`LeNet: dropout must be in [0, 1), got ${o.dropout}`);
  if (o.conv.length !== 2) throw new Error(`LeNet: conv must list 2 channel counts, got [${o.conv}]`);
  if (![...o.conv, ...o.fc, o.kernel, o.pool, o.classes].every((n) => Number.isInteger(n) && n > 0)) throw new Error('LeNet: sizes must be positive integers');
  return o;
}

export function createLeNet(options: LeNetPreset | Partial<LeNetOptions>, rng: Rng): LeNet {
  const o = lenetOptions(options);
  const [H, W, C] = o.inputShape;
  const k = o.kernel;
  // Shapes and FLOPs per image.
  let [h, w] = [H, W];
  let flopsPerImage = 0;
  const convIn = [C, o.conv[0]];
  o.conv.forEach((co, i) => {
    const [ch, cw] = o.padding === 'same' ? [h, w] : [h - k + 1, w - k + 1];
    [h, w] = convPoolSize(h, w, o, i);
    flopsPerImage += 2 * ch * cw * k * k * convIn[i] * co;
  });
  const flat = h * w * o.conv[1];
  const sizes = [flat, ...o.fc, o.classes];
  for (let i = 0; i + 1 < sizes.length; i++) flopsPerImage += 2 * sizes[i] * sizes[i + 1];

  const store = new ParamStore();
  const convW: tf.Variable[] = [];
  const convB: tf.Variable[] = [];
  o.conv.forEach((co, i) => {
    const ci = convIn[i];
    const fanIn = k * k * ci;
    const scheme = o.init === 'torch' ? 'torch' : 'he';
    convW.push(store.add(`conv${i + 1}/w`, initWeights(rng, [k, k, ci, co], fanIn, k * k * co, scheme), [k, k, ci, co]));
    convB.push(store.add(`conv${i + 1}/b`, initBias(rng, co, fanIn, scheme), [co]));
  });
  const fcW: tf.Variable[] = [];
  const fcB: tf.Variable[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const last = i + 2 === sizes.length;
    const scheme: InitScheme = o.init === 'torch' ? 'torch' : last ? 'glorot' : 'he';
    const scale = last ? o.outputScale : 1;
    const name = last ? 'out' : `fc${i + 1}`;
    fcW.push(store.add(`${name}/w`, initWeights(rng, [sizes[i], sizes[i + 1]], sizes[i], sizes[i + 1], scheme, scale), [sizes[i], sizes[i + 1]]));
    fcB.push(store.add(`${name}/b`, initBias(rng, sizes[i + 1], sizes[i], scheme, scale), [sizes[i + 1]]));
  }

  const drop = (f: tf.Tensor2D, training: { seed(): number } | undefined): tf.Tensor2D =>
    training && o.dropout > 0 ? dropout(f, o.dropout, training.seed()) : f;
  const apply = (x: tf.Tensor4D, training?: { seed(): number }): tf.Tensor2D =>
    tf.tidy(() => {
      if (x.rank !== 4 || x.shape[1] !== H || x.shape[2] !== W || x.shape[3] !== C)
        throw new Error(`LeNet: expected input [N, ${H}, ${W}, ${C}], got [${x.shape}]`);
      let a: tf.Tensor4D = x;
      const ownGrad = tf.getKernel(RELU_GRAD, tf.getBackend()) !== undefined;
      for (let i = 0; i < convW.length; i++) {
        a = ownGrad
          ? convBiasRelu(o.padding, i > 0)(a, convW[i] as tf.Tensor4D, convB[i] as tf.Tensor1D)
          : tf.fused.conv2d({ x: a, filter: convW[i] as tf.Tensor4D, strides: 1, pad: o.padding, bias: convB[i], activation: 'relu' });
        a = tf.maxPool(a, o.pool, o.pool, 'valid');
      }
      let f = tf.reshape(a, [x.shape[0], flat]) as tf.Tensor2D;
      for (let i = 0; i < fcW.length; i++) {
        const last = i + 1 === fcW.length;
        f = tf.fused.matMul({ a: drop(f, training), b: fcW[i] as tf.Tensor2D, bias: fcB[i], activation: last ? 'linear' : 'relu' }) as tf.Tensor2D;
      }
      return f;
    });

  return {
    ...store.base(),
    options: o,
    apply,
    flops: (batchShape) => batchShape[0] * flopsPerImage,
  };
}
