/**
 * A small U-net-like FCNN (Ronneberger et al. 2015) for the segmentation task: the unary network
 * (2 scores per pixel) and the pairwise embedding network (D values per pixel) of docs/model.md §3/§5.
 *
 * For `channels: [c_0, …, c_{d−1}]` (default [16, 32, 64], d = 3):
 *   encoder level i: [conv k×k c_i + bias + ReLU] × convsPerBlock; then maxPool 2×2 (not after the last)
 *   decoder level i = d−2 … 0: up = conv2dTranspose 2×2 stride 2 (c_{i+1} → c_i) + bias;
 *                               concat([up, skip_i], channels) → [conv k×k c_i + ReLU] × convsPerBlock
 *   output: conv 1×1 → outChannels + bias (linear)
 * 'same' padding throughout, so the output is [B, H, W, outChannels] for input [B, H, W, inChannels];
 * H and W must be divisible by 2^(d−1).
 *
 * Upsampling is conv2dTranspose, not resizeBilinear: the cpu back end's resizeBilinear gradient has
 * the wrong shape for non-square images (docs/backends.md), and a learnt 2×2 stride-2
 * transposed conv is the original U-net's "up-convolution". ReLU precedes every maxPool (wasm's
 * MaxPoolGrad drops negative-maximum windows). No batch norm (tf.batchNorm without scale/offset
 * breaks backprop; the net is shallow enough without it).
 *
 * Init: He-normal for the ReLU convs and the transposed convs, biases 0; the 1×1 output conv
 * Glorot-uniform times `outputScale` (the initial scale of the unary or pairwise potentials).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.js';
import { type ModelBase, ParamStore, initWeights } from './init.js';

export interface UNetOptions {
  inChannels: number;
  outChannels: number;
  /** Channels per level, encoder top to bottleneck. */
  channels: number[];
  /** Kernel size of the block convolutions. */
  kernel: number;
  convsPerBlock: number;
  outputScale: number;
}

export const UNET_DEFAULTS: UNetOptions = { inChannels: 3, outChannels: 2, channels: [16, 32, 64], kernel: 3, convsPerBlock: 2, outputScale: 1 };

export interface UNet extends ModelBase {
  readonly options: UNetOptions;
  /** x [B, H, W, inChannels] → [B, H, W, outChannels]. Call inside tidy / optimizer.minimize. */
  apply(x: tf.Tensor4D): tf.Tensor4D;
  /** Forward FLOPs (2 × multiply-adds of all convolutions) for batchShape [B, H, W]. */
  flops(batchShape: readonly number[]): number;
}

interface Conv {
  w: tf.Variable;
  b: tf.Variable;
  /** [kh, kw, ci, co]; for a transposed conv the filter is [kh, kw, co, ci] (tfjs's layout). */
  ci: number;
  co: number;
  k: number;
}

export function createUNet(options: Partial<UNetOptions>, rng: Rng): UNet {
  const o: UNetOptions = { ...UNET_DEFAULTS, ...options };
  const d = o.channels.length;
  if (d < 1 || ![...o.channels, o.inChannels, o.outChannels, o.kernel, o.convsPerBlock].every((n) => Number.isInteger(n) && n > 0))
    throw new Error('UNet: sizes must be positive integers');
  const store = new ParamStore();
  const conv = (name: string, k: number, ci: number, co: number, scheme: 'he' | 'glorot' = 'he', scale = 1): Conv => ({
    w: store.add(`${name}/w`, initWeights(rng, [k, k, ci, co], k * k * ci, k * k * co, scheme, scale), [k, k, ci, co]),
    b: store.add(`${name}/b`, new Float32Array(co), [co]),
    ci,
    co,
    k,
  });
  const block = (name: string, ci: number, co: number): Conv[] =>
    Array.from({ length: o.convsPerBlock }, (_, j) => conv(`${name}/conv${j + 1}`, o.kernel, j === 0 ? ci : co, co));

  const enc = o.channels.map((c, i) => block(`enc${i}`, i === 0 ? o.inChannels : o.channels[i - 1], c));
  const ups: Conv[] = [];
  const dec: Conv[][] = [];
  for (let i = d - 2; i >= 0; i--) {
    // Transposed conv filter [2, 2, out = c_i, in = c_{i+1}]; fan-in of an output pixel is c_{i+1} (one tap per input pixel).
    const ci = o.channels[i + 1];
    const co = o.channels[i];
    ups.push({
      w: store.add(`up${i}/w`, initWeights(rng, [2, 2, co, ci], ci, 4 * co, 'he'), [2, 2, co, ci]),
      b: store.add(`up${i}/b`, new Float32Array(co), [co]),
      ci,
      co,
      k: 2,
    });
    dec.push(block(`dec${i}`, 2 * co, co));
  }
  const out = conv('out', 1, o.channels[0], o.outChannels, 'glorot', o.outputScale);

  const runBlock = (x: tf.Tensor4D, convs: Conv[]): tf.Tensor4D =>
    convs.reduce((a, c) => tf.fused.conv2d({ x: a, filter: c.w as tf.Tensor4D, strides: 1, pad: 'same', bias: c.b, activation: 'relu' }), x);

  const factor = 2 ** (d - 1);
  const apply = (x: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => {
      const [B, H, W, C] = x.shape;
      if (x.rank !== 4 || C !== o.inChannels) throw new Error(`UNet: expected input [B, H, W, ${o.inChannels}], got [${x.shape}]`);
      if (H % factor !== 0 || W % factor !== 0) throw new Error(`UNet: H and W must be divisible by 2^${d - 1} = ${factor}, got ${H}×${W}`);
      const skips: tf.Tensor4D[] = [];
      let a = x;
      for (let i = 0; i < d; i++) {
        a = runBlock(a, enc[i]);
        if (i < d - 1) {
          skips.push(a);
          a = tf.maxPool(a, 2, 2, 'valid');
        }
      }
      for (let j = 0; j < ups.length; j++) {
        const i = d - 2 - j;
        const skip = skips[i];
        const [, h, w] = skip.shape;
        const up = tf.add(tf.conv2dTranspose(a, ups[j].w as tf.Tensor4D, [B, h, w, ups[j].co], 2, 'valid'), ups[j].b) as tf.Tensor4D;
        a = runBlock(tf.concat([up, skip], 3), dec[j]);
      }
      return tf.fused.conv2d({ x: a, filter: out.w as tf.Tensor4D, strides: 1, pad: 'same', bias: out.b });
    });

  const flops = ([B, H, W]: readonly number[]): number => {
    let f = 0;
    for (let i = 0; i < d; i++) {
      const px = (H / 2 ** i) * (W / 2 ** i);
      for (const c of enc[i]) f += 2 * px * c.k * c.k * c.ci * c.co;
    }
    for (let j = 0; j < ups.length; j++) {
      const i = d - 2 - j;
      const inPx = (H / 2 ** (i + 1)) * (W / 2 ** (i + 1));
      f += 2 * inPx * 4 * ups[j].ci * ups[j].co;
      for (const c of dec[j]) f += 2 * (H / 2 ** i) * (W / 2 ** i) * c.k * c.k * c.ci * c.co;
    }
    f += 2 * H * W * o.channels[0] * o.outChannels;
    return B * f;
  };

  return { ...store.base(), options: o, apply, flops };
}
