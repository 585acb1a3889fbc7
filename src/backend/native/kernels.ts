/**
 * The wasm back end's matrix products and convolutions, run by OpenBLAS through sps's addon on views
 * of the wasm heap (no copies in or out): BatchMatMul, _FusedMatMul, Conv2D, FusedConv2D,
 * Conv2DBackpropInput and Conv2DBackpropFilter; Sum, Concat, SplitV, Multiply, Tile, Transpose and
 * the 2×2 MaxPoolGrad in the cases that are copies or single passes; and kernels of sps's own: the
 * LSTM recurrence and its gradient (used by src/models/lstm.ts when registered), the ReLU gradient
 * from the output (src/models/lenet.ts) and the Adam step (src/train/adam.ts). What the addon
 * does not compute (another data format, dilations, an activation other than linear or relu, a bias
 * that is not per output channel, general broadcasting, int32) goes to the kernel they replaced,
 * passed in as `fallback`.
 *
 * Views are taken after every output is allocated: an allocation may grow the wasm memory, which
 * detaches earlier views.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  BatchMatMulAttrs,
  ConcatAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  FusedConv2DAttrs,
  SplitVAttrs,
  SumAttrs,
  TileAttrs,
  TransposeAttrs,
} from '@tensorflow/tfjs';
import type { Backend, KernelArgs, TensorInfo } from '../wasm/common.js';
import { attrsOf, pair, sizeOf } from '../wasm/common.js';
import { SQUARED_NORM, type AdamUpdateAttrs, type AleaUniformAttrs, type ChainCrfAttrs, type ChainViterbiAttrs, type LstmRecurrenceAttrs } from '../kernel-names.js';
import { productShape } from '../wasm/matmul.js';
import { plain2x2, poolInfo } from '../wasm/loops.js';
import type { NativeAddon } from './addon.js';

export type Fallback = (args: KernelArgs) => TensorInfo;

/** For measurements and tests: convolutions by oneDNN where it takes them (default), or im2col + sgemm only. */
export const nativeTuning: { dnnl: boolean } = { dnnl: true };
export type NativeKernel = (addon: NativeAddon, args: KernelArgs, fallback: Fallback) => TensorInfo;

const f32 = (backend: Backend, t: TensorInfo): Float32Array => backend.typedArrayFromHeap(t) as Float32Array;
const isF32 = (...ts: (TensorInfo | undefined)[]): boolean => ts.every((t) => t === undefined || t.dtype === 'float32');

/** 0 linear, 1 relu; undefined for what the addon does not apply (the fallback does). */
function activationCode(attrs: Partial<Pick<FusedConv2DAttrs, 'activation'>>, prelu: TensorInfo | undefined): number | undefined {
  if (prelu) return undefined;
  const a = attrs.activation ?? 'linear';
  return a === 'linear' ? 0 : a === 'relu' ? 1 : undefined;
}

type BiasedKernel = (addon: NativeAddon, args: KernelArgs, fallback: Fallback, bias?: TensorInfo, act?: number) => TensorInfo;

/** The fused form of a kernel (_FusedMatMul, FusedConv2D): its bias and activation, or the fallback. */
const fused =
  (kernel: BiasedKernel): NativeKernel =>
  (addon, args, fallback) => {
    const { bias, preluActivationWeights } = args.inputs;
    const act = activationCode(attrsOf<FusedConv2DAttrs>(args), preluActivationWeights);
    return act === undefined ? fallback(args) : kernel(addon, args, fallback, bias, act);
  };

/** A bias the addon adds: one value per output column ([n], or [1, …, 1, n]). */
const perColumn = (bias: TensorInfo | undefined, n: number): boolean =>
  bias === undefined || (bias.shape.length > 0 && bias.shape[bias.shape.length - 1] === n && sizeOf(bias.shape) === n);

function matMul(addon: NativeAddon, args: KernelArgs, fallback: Fallback, bias?: TensorInfo, act = 0): TensorInfo {
  const { inputs, backend } = args;
  const attrs = attrsOf<BatchMatMulAttrs>(args);
  const { a, b } = inputs;
  const tA = attrs.transposeA === true;
  const tB = attrs.transposeB === true;
  const s = isF32(a, b, bias) ? productShape(a, b, tA, tB) : undefined;
  if (!s || !perColumn(bias, s.N)) return fallback(args);
  const out = backend.makeOutput(s.outShape, 'float32');
  const dims = Int32Array.of(s.batch, s.M, s.N, s.K, tA ? 1 : 0, tB ? 1 : 0, s.sA, s.sB);
  addon.gemm(dims, f32(backend, a), f32(backend, b), f32(backend, out), bias ? f32(backend, bias) : null, act);
  return out;
}

export const batchMatMul: NativeKernel = (addon, args, fallback) => matMul(addon, args, fallback);

export const fusedMatMul = fused(matMul);

/** The addon's conv dims for tfjs's conv info: [B, H, W, ci, Ho, Wo, co, fh, fw, sh, sw, top, left]. */
function convDims(info: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  );
}

/** tfjs's conv info when the addon computes this convolution (NHWC, dilation 1, float32), else undefined. */
/** The attrs convInfo reads: Conv2D's (the backprop kernels have no dilations; a layer may say 'channelsLast'). */
type ConvAttrs = Pick<Conv2DAttrs, 'strides' | 'pad' | 'dimRoundingMode'> & { dataFormat?: string; dilations?: Conv2DAttrs['dilations'] };

function convInfo(
  attrs: ConvAttrs,
  xShape: number[],
  filterShape: number[],
  ...tensors: (TensorInfo | undefined)[]
): tf.backend_util.Conv2DInfo | undefined {
  const format = attrs.dataFormat;
  if (format !== undefined && format !== 'NHWC' && format !== 'channelsLast') return undefined;
  const [dh, dw] = pair(attrs.dilations, 'dilations');
  if (dh !== 1 || dw !== 1 || !isF32(...tensors) || xShape.length !== 4 || filterShape.length !== 4) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const sizes = [info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels];
  return sizes.every((d) => d > 0) && info.padInfo.top >= 0 && info.padInfo.left >= 0 ? info : undefined;
}

const outShapeOf = (i: tf.backend_util.Conv2DInfo): number[] => [i.batchSize, i.outHeight, i.outWidth, i.outChannels];

/**
 * One convolution of `kind` (0 forward: a = x, b = w; 1 backward data: a = dy, b = w; 2 backward
 * weights: a = x, b = dy) into `out`: by oneDNN where it has a primitive, else by im2col + sgemm.
 */
function convolve(
  addon: NativeAddon,
  kind: 0 | 1 | 2,
  info: tf.backend_util.Conv2DInfo,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  bias: Float32Array | null = null,
  act = 0,
): void {
  const dims = convDims(info);
  if (nativeTuning.dnnl && addon.dnnlConv(kind, dims, a, b, out, bias, act)) return;
  if (kind === 0) addon.conv2d(dims, a, b, out, bias, act);
  else if (kind === 1) addon.conv2dBackpropInput(dims, a, b, out);
  else addon.conv2dBackpropFilter(dims, a, b, out);
}

function conv(addon: NativeAddon, args: KernelArgs, fallback: Fallback, bias?: TensorInfo, act = 0): TensorInfo {
  const { inputs, backend } = args;
  const { x, filter } = inputs;
  const info = convInfo(attrsOf<Conv2DAttrs>(args), x.shape, filter.shape, x, filter, bias);
  if (!info || !perColumn(bias, info.outChannels)) return fallback(args);
  const out = backend.makeOutput(outShapeOf(info), 'float32');
  convolve(addon, 0, info, f32(backend, x), f32(backend, filter), f32(backend, out), bias ? f32(backend, bias) : null, act);
  return out;
}

export const conv2D: NativeKernel = (addon, args, fallback) => conv(addon, args, fallback);

export const fusedConv2D = fused(conv);

export const conv2DBackpropInput: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<Conv2DBackpropInputAttrs>(args);
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape;
  const info = convInfo(attrs, inputShape, filter.shape, dy, filter);
  if (!info || dy.shape.join() !== outShapeOf(info).join()) return fallback(args);
  const dx = backend.makeOutput([...inputShape], 'float32');
  convolve(addon, 1, info, f32(backend, dy), f32(backend, filter), f32(backend, dx));
  return dx;
};

export const conv2DBackpropFilter: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<Conv2DBackpropFilterAttrs>(args);
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape;
  const info = convInfo(attrs, x.shape, filterShape, x, dy);
  if (!info || dy.shape.join() !== outShapeOf(info).join()) return fallback(args);
  const dw = backend.makeOutput([...filterShape], 'float32');
  convolve(addon, 2, info, f32(backend, x), f32(backend, dy), f32(backend, dw));
  return dw;
};

export { ADAM_UPDATE, ALEA_UNIFORM, CHAIN_CRF, CHAIN_CRF_GRAD, CHAIN_VITERBI, LSTM_RECURRENCE, LSTM_RECURRENCE_GRAD, RELU_GRAD, SQUARED_NORM } from '../kernel-names.js';

const i32 = (backend: Backend, t: TensorInfo): Int32Array => backend.typedArrayFromHeap(t) as Int32Array;

function lstmDims(attrs: Partial<LstmRecurrenceAttrs>, T: number, H: number, B: number): Int32Array {
  return Int32Array.of(T, H, B, attrs.reverse === true ? 1 : 0, attrs.finalOnly === true ? 1 : 0);
}

/**
 * One LSTM direction (see lstm.ts, `kernelRecurrence`), batch-major: inputs xp [B, T, 4H] (the input
 * projection, rows (b, t) as x·kernel gives them), recurrent [H, 4H], bias [4H], lengths int32 [B];
 * attrs reverse, finalOnly. Outputs: hs [B, T, H] (or the final h [B, H]), then what the gradient
 * reads: by time, the gates s [T, B, 4H], tanh(c') [T, B, H] and c before each step [T, B, H]; in
 * xp's rows, h before each step [B, T, H].
 */
export const lstmRecurrence: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<LstmRecurrenceAttrs>(args);
  const { xp, recurrent, bias, lengths } = inputs;
  const [B, T, H4] = xp.shape;
  const H = H4 / 4;
  const outs = [
    backend.makeOutput(attrs.finalOnly === true ? [B, H] : [B, T, H], 'float32'),
    backend.makeOutput([T, B, H4], 'float32'),
    backend.makeOutput([T, B, H], 'float32'),
    backend.makeOutput([T, B, H], 'float32'),
    backend.makeOutput([B, T, H], 'float32'),
  ];
  const [out, s, tc, cp, hp] = outs.map((t) => f32(backend, t));
  addon.lstmForward(lstmDims(attrs, T, H, B), f32(backend, xp), f32(backend, recurrent), f32(backend, bias), i32(backend, lengths), out, s, tc, cp, hp);
  return outs as unknown as TensorInfo;
};

/** The gradient of lstmRecurrence: inputs dy, s, tc, cp, hp, recurrent, lengths; outputs dxp [B, T, 4H], drecurrent [H, 4H], dbias [4H]. */
export const lstmRecurrenceGrad: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<LstmRecurrenceAttrs>(args);
  const { dy, s, tc, cp, hp, recurrent, lengths } = inputs;
  const [T, B, H4] = s.shape;
  const H = H4 / 4;
  const outs = [backend.makeOutput([B, T, H4], 'float32'), backend.makeOutput([H, H4], 'float32'), backend.makeOutput([H4], 'float32')];
  const [dxp, dr, dbias] = outs.map((t) => f32(backend, t));
  addon.lstmBackward(
    lstmDims(attrs, T, H, B),
    f32(backend, dy),
    f32(backend, s),
    f32(backend, tc),
    f32(backend, cp),
    f32(backend, hp),
    f32(backend, recurrent),
    i32(backend, lengths),
    dxp,
    dr,
    dbias,
  );
  return outs as unknown as TensorInfo;
};

/**
 * One Adam step (src/train/adam.ts): inputs value, m, v, g (one shape); attrs `acc` = [1 − β1^t,
 * 1 − β2^t] and `constants` = [β1, 1 − β1, β2, 1 − β2, ε, −lr], rounded to float32 as tfjs's scalars
 * are. Outputs: the new value, m and v.
 */
export const adamUpdate: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<AdamUpdateAttrs>(args);
  const { value, m, v, g } = inputs;
  const outs = [value, m, v].map((t) => backend.makeOutput([...t.shape], 'float32'));
  const [w2, m2, v2] = outs.map((t) => f32(backend, t));
  const acc = Float32Array.from(attrs.acc);
  const k = Float32Array.from([...attrs.constants, attrs.gradScale ?? 1]);
  addon.adam(f32(backend, value), f32(backend, m), f32(backend, v), f32(backend, g), acc, k, w2, m2, v2);
  return outs as unknown as TensorInfo;
};

/** Sum over leading axes (a bias gradient: [B, H, W, C] → [C]) as one pass of column sums; others fall back. */
export const sum: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<SumAttrs>(args);
  const { x } = inputs;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
  const k = axes.length;
  if (x.dtype !== 'float32' || k === 0 || k === x.shape.length || axes.some((a, i) => a !== i) || sizeOf(x.shape) === 0) return fallback(args);
  const kept = x.shape.slice(k);
  const out = backend.makeOutput(attrs.keepDims === true ? [...new Array<number>(k).fill(1), ...kept] : kept, 'float32');
  addon.colSum(f32(backend, x), Int32Array.of(sizeOf(x.shape.slice(0, k)), sizeOf(kept)), f32(backend, out));
  return out;
};

/** Concat of float32 tensors along any axis as block copies in C (wasm's copies row by row in JS). */
export const concat: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<ConcatAttrs>(args);
  const parts = Object.values(inputs);
  if (parts.length < 2 || parts.some((t) => t.dtype !== 'float32' || sizeOf(t.shape) === 0) || parts.length > 64) return fallback(args);
  const axis = tf.util.parseAxisParam(attrs.axis, parts[0].shape)[0];
  tf.backend_util.assertParamsConsistent(
    parts.map((t) => t.shape),
    axis,
  );
  const out = backend.makeOutput(
    tf.backend_util.computeOutShape(
      parts.map((t) => t.shape),
      axis,
    ),
    'float32',
  );
  const inners = Int32Array.from(parts, (t) => sizeOf(t.shape.slice(axis)));
  addon.blocks(
    0,
    sizeOf(parts[0].shape.slice(0, axis)),
    f32(backend, out),
    parts.map((t) => f32(backend, t)),
    inners,
  );
  return out;
};

/** SplitV of a float32 tensor along any axis as block copies in C. */
export const splitV: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<SplitVAttrs>(args);
  const { x } = inputs;
  const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs.numOrSizeSplits, axis);
  if (x.dtype !== 'float32' || sizeOf(x.shape) === 0 || sizes.length > 64) return fallback(args);
  const outs = sizes.map((n) =>
    backend.makeOutput(
      x.shape.map((d, i) => (i === axis ? n : d)),
      'float32',
    ),
  );
  const inner = sizeOf(x.shape.slice(axis + 1));
  addon.blocks(
    1,
    sizeOf(x.shape.slice(0, axis)),
    f32(backend, x),
    outs.map((t) => f32(backend, t)),
    Int32Array.from(sizes, (n) => n * inner),
  );
  return outs as unknown as TensorInfo;
};

/**
 * Multiply where one operand is a single float32 value broadcast over the other (a scaling, such as
 * gradient clipping's factor or tfjs's gradient of a sum on other back ends): one loop in C; wasm's broadcasting path works out indices element by element.
 * Every other product goes to wasm's kernel.
 */
export const multiply: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const { a, b } = inputs;
  const [big, one] = sizeOf(b.shape) === 1 ? [a, b] : [b, a];
  const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  if (!isF32(a, b) || sizeOf(one.shape) !== 1 || outShape.length !== big.shape.length || sizeOf(big.shape) < 2) return fallback(args);
  const out = backend.makeOutput(outShape, 'float32');
  addon.scale(f32(backend, big), f32(backend, one), f32(backend, out));
  return out;
};

/**
 * Tile of a float32 tensor (also what tf.broadcastTo runs, and so the gradients of sum and mean on
 * native: ./gradients.ts) as block copies in C; wasm's kernel works out every element's index in turn.
 */
export const tile: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<TileAttrs>(args);
  const { x } = inputs;
  const reps = attrs.reps;
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank < 1 || rank > 8 || reps.length !== rank || sizeOf(x.shape) === 0 || reps.some((r) => r < 1)) return fallback(args);
  const out = backend.makeOutput(
    x.shape.map((d, i) => d * reps[i]),
    'float32',
  );
  addon.tile(f32(backend, x), Int32Array.from(x.shape), Int32Array.from(reps), f32(backend, out));
  return out;
};

/** An Int32Array attribute of the chain kernels, or null (src/crf/chain-fused.ts packs them). */
const i32Attr = (v: unknown): Int32Array | null => (v instanceof Int32Array ? v : null);

/**
 * The fused chain-CRF objective (src/crf/chain-fused.ts; native/sps_crf.c, chainCrf): inputs unary
 * [B, T, K] and pairwise [K, K]; attrs objective (code), iterations, and the Int32Arrays lengths [B],
 * labels [B·T], allowed [K·K] and maximiser [B·T] (the last three may be null). Outputs: the value per
 * sequence [B], its gradients gU [B, T, K] and gW [B, K, K], and status int32 [1] (0, or 1 when the
 * probability-space pass declined: the caller then computes the objective otherwise).
 */
export const chainCrf: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<ChainCrfAttrs>(args);
  const { unary, pairwise } = inputs;
  const [B, T, K] = unary.shape;
  const outs = [
    backend.makeOutput([B], 'float32'),
    backend.makeOutput([B, T, K], 'float32'),
    backend.makeOutput([B, K, K], 'float32'),
    backend.makeOutput([1], 'int32'),
  ];
  const [value, gU, gW] = outs.slice(0, 3).map((t) => f32(backend, t));
  const dims = Int32Array.of(B, T, K, attrs.objective, attrs.iterations ?? 0);
  const status = addon.chainCrf(
    dims,
    f32(backend, unary),
    f32(backend, pairwise),
    attrs.lengths,
    i32Attr(attrs.labels),
    i32Attr(attrs.allowed),
    i32Attr(attrs.maximiser),
    value,
    gU,
    gW,
  );
  i32(backend, outs[3])[0] = status;
  return outs as unknown as TensorInfo;
};

/** The backward of chainCrf: inputs dy [B], gU, gW; outputs dU = dy_b · gU_b [B, T, K] and dW = Σ_b dy_b · gW_b [K, K]. */
export const chainCrfGrad: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const { dy, gU, gW } = inputs;
  const [B, T, K] = gU.shape;
  const outs = [backend.makeOutput([B, T, K], 'float32'), backend.makeOutput([K, K], 'float32')];
  const [dU, dW] = outs.map((t) => f32(backend, t));
  addon.chainCrfGrad(Int32Array.of(B, T, K), f32(backend, dy), f32(backend, gU), f32(backend, gW), dU, dW);
  return outs as unknown as TensorInfo;
};

/**
 * The (loss-augmented) Viterbi decoder: inputs unary [B, T, K], pairwise [K, K]; attrs the Int32Arrays
 * lengths [B], allowed [K·K] and gold [B·T] (both may be null). Output: labels int32 [B, T], −1 at padding.
 */
export const chainViterbi: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<ChainViterbiAttrs>(args);
  const { unary, pairwise } = inputs;
  const [B, T, K] = unary.shape;
  const out = backend.makeOutput([B, T], 'int32');
  addon.chainViterbi(
    Int32Array.of(B, T, K),
    f32(backend, unary),
    f32(backend, pairwise),
    attrs.lengths,
    i32Attr(attrs.allowed),
    i32Attr(attrs.gold),
    i32(backend, out),
  );
  return out;
};

/**
 * Transpose of a float32 tensor (rank ≤ 8) in C: the stacked 2-D transposes it reduces to are copied
 * in square tiles. wasm's kernel was a sixth of a BiLSTM-CRF training step (the LSTM's feature-major
 * layout transposes its inputs and their gradients: docs/native-kernels.md). int32 and others fall back.
 */
export const transpose: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend } = args;
  const attrs = attrsOf<TransposeAttrs>(args);
  const { x } = inputs;
  const perm = attrs.perm;
  if (x.dtype !== 'float32' || x.shape.length < 1 || x.shape.length > 8) return fallback(args);
  const out = backend.makeOutput(
    perm.map((p) => x.shape[p]),
    'float32',
  );
  addon.transpose(f32(backend, x), Int32Array.from(x.shape), Int32Array.from(perm), f32(backend, out));
  return out;
};

/**
 * MaxPoolGrad of 2×2 windows at stride 2 without padding (LeNet's and the U-net's pools) in C, the
 * maximum picked by cpu's rule as in the wasm kernel (../wasm/loops.ts), without its branches. It was
 * the costliest kernel of a LeNet+CRF step on native. Other pools fall back.
 */
export const maxPoolGrad: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend, attrs = {} } = args;
  const { dy, input } = inputs;
  if (!isF32(dy, input) || input.shape.length !== 4) return fallback(args);
  const info = poolInfo(input, attrs);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const simple = plain2x2(info) && dy.shape.join() === [B, Ho, Wo, C].join();
  if (!simple) return fallback(args);
  const dx = backend.makeOutput([...input.shape], 'float32');
  addon.maxPool2x2Grad(f32(backend, input), f32(backend, dy), Int32Array.of(B, H, W, C, Ho, Wo), f32(backend, dx));
  return dx;
};

/** A 2×2 max pool at stride 2 without padding (LeNet's, the U-net's) in one pass of C; other pools fall back. */
export const maxPool: NativeKernel = (addon, args, fallback) => {
  const { inputs, backend, attrs = {} } = args;
  const { x } = inputs;
  if (!isF32(x) || x.shape.length !== 4) return fallback(args);
  const info = poolInfo(x, attrs);
  if (!plain2x2(info)) return fallback(args);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const y = backend.makeOutput([B, Ho, Wo, C], 'float32');
  addon.maxPool2x2(f32(backend, x), Int32Array.of(B, H, W, C, Ho, Wo), f32(backend, y));
  return y;
};

/** Σ x² over all inputs (SQUARED_NORM): each input's sum in double in C, their total rounded once to float32. */
export const squaredNorm: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const parts = Object.values(inputs);
  if (parts.some((t) => t.dtype !== 'float32')) throw new Error(`${SQUARED_NORM}: every input must be float32`);
  let total = 0;
  for (const t of parts) if (sizeOf(t.shape) > 0) total += addon.sumSquares(f32(backend, t));
  const out = backend.makeOutput([], 'float32');
  f32(backend, out)[0] = total;
  return out;
};

/** The gradient of a ReLU from its output (inputs dy, y; float32): dy where y > 0, else 0, in one pass. */
export const reluGrad: NativeKernel = (addon, args) => {
  const { inputs, backend } = args;
  const { dy, y } = inputs;
  const out = backend.makeOutput([...dy.shape], 'float32');
  addon.reluGrad(f32(backend, dy), f32(backend, y), f32(backend, out));
  return out;
};

/** tf.randomUniform's float32 stream in [0, 1) from a seeded Alea state (attrs: AleaUniformAttrs), in one serial pass. */
export const aleaUniform: NativeKernel = (addon, args) => {
  const { backend } = args;
  const { state, shape } = attrsOf<AleaUniformAttrs>(args);
  const out = backend.makeOutput([...shape], 'float32');
  addon.aleaUniform(state[0], state[1], state[2], state[3], f32(backend, out));
  return out;
};
