/**
 * Convolution gradients for the wasm back end, built on wasm's own XNNPACK kernels (Conv2D, the
 * fully-connected BatchMatMul, Transpose, PadV2) plus a few copies inside the wasm heap.
 *
 * - Conv2DBackpropFilter (missing on wasm 4.22.0), two ways, chosen by shape (TAPS_MAX_GRID_OVERHEAD):
 *   - as a convolution: dW[kh,kw,ci,co] = sum_{b,oh,ow} xpad[b, oh*sh+kh, ow*sw+kw, ci] dy[b,oh,ow,co]
 *     is a stride-1 convolution of x as [ci,H,W,B] (batch ci, channels B) with dy as a filter
 *     [Ho,Wo,B,co], dilated by the stride;
 *   - as one matrix product per filter tap against dy packed once (backpropFilterTaps).
 * - Conv2DBackpropInput: dx is a stride-1 convolution of dy, padded by (f-1-pad), with the filter
 *   reversed in both spatial dims and its channels swapped. For stride s > 1, a "sub-pixel"
 *   convolution computing the s*s output phases at once (subPixelBackpropInput); dy dilated with
 *   zeros and wasm's own direct loop remain as fallbacks.
 */
import * as tf from '@tensorflow/tfjs';
import { Conv2DBackpropFilter, Conv2DBackpropInput } from '@tensorflow/tfjs';
import { type Backend, type KernelArgs, type TensorInfo, conv2d, dispose, heapView, pad, pair, releaseHeapView, transpose, wasmKernel } from './common.js';
import { fc } from './matmul.js';

/** For measurements and tests: how the gradients are computed (the defaults are the measured best). */
export const convTuning: { stridedBackpropInput: 'subpixel' | 'dilate' | 'original'; backpropFilter: 'auto' | 'taps' | 'conv' } = {
  stridedBackpropInput: 'subpixel',
  backpropFilter: 'auto',
};

/**
 * The per-tap products of backpropFilterTaps run over a padded grid: they pay Hq*Wq/(Ho*Wo) times the
 * useful work (the zeros around each image), against the convolution's slow re-packing of dy. Measured
 * (docs/wasm-kernels.md): taps win up to ~1.35 (U-net-sized images), the convolution from ~1.55
 * (LeNet-sized ones: 8x4 maps with 5x5 filters make 3.0).
 */
const TAPS_MAX_GRID_OVERHEAD = 1.4;

function channelsLastOrThrow(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`sps wasm ${kernel}: dataFormat '${String(dataFormat)}' is not supported (NHWC only); use --backend cpu`);
  }
}

function dilationsOneOrThrow(kernel: string, dilations: unknown): void {
  if (dilations === undefined) return;
  const [dh, dw] = pair(dilations, 'dilations');
  if (dh !== 1 || dw !== 1) {
    throw new Error(`sps wasm ${kernel}: dilations ${JSON.stringify(dilations)} are not supported (1 only); use --backend cpu`);
  }
}

export function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs = {} } = args;
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as [number, number, number, number];
  channelsLastOrThrow(Conv2DBackpropFilter, attrs.dataFormat);
  dilationsOneOrThrow(Conv2DBackpropFilter, attrs.dilations);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('sps wasm Conv2DBackpropFilter: float32 only');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  const { batchSize: B, inHeight: H, inWidth: W, outChannels: co } = info;
  const { outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  if (dy.shape.length !== 4 || dy.shape[0] !== B || dy.shape[1] !== Ho || dy.shape[2] !== Wo || dy.shape[3] !== co) {
    throw new Error(`sps wasm Conv2DBackpropFilter: dy shape [${dy.shape}] does not match [${[B, Ho, Wo, co]}] for x [${x.shape}], filter [${filterShape}]`);
  }
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  if (top < 0 || left < 0) throw new Error('sps wasm Conv2DBackpropFilter: negative padding');
  if (convTuning.backpropFilter === 'taps' || (convTuning.backpropFilter === 'auto' && tapsGridOverhead(info) <= TAPS_MAX_GRID_OVERHEAD)) {
    return backpropFilterTaps(backend, x, dy, info);
  }
  // Rows the convolution must see for exactly fh output rows; what lies beyond is never read.
  const bottom = Math.max(0, (Ho - 1) * sh + fh - top - H);
  const right = Math.max(0, (Wo - 1) * sw + fw - left - W);

  const xt = transpose(backend, x, [3, 1, 2, 0]); // [ci, H, W, B]
  const dyt = transpose(backend, dy, [1, 2, 0, 3]); // [Ho, Wo, B, co]
  let out = conv2d(backend, xt, dyt, [1, 1], [top, bottom, left, right], [sh, sw]); // [ci, oh, ow, co]
  dispose(backend, xt, dyt);
  if (out.shape[1] !== fh || out.shape[2] !== fw) {
    // 'valid' (or explicit) padding with rows left over after the last window: drop the extra rows.
    const cut = crop(backend, out, 0, 0, fh, fw);
    dispose(backend, out);
    out = cut;
  }
  const dw = transpose(backend, out, [1, 2, 0, 3]); // [fh, fw, ci, co]
  dispose(backend, out);
  return dw;
}

/** The grid [B, Hq, Wq] of backpropFilterTaps: every window of every output position fits. */
function tapsGrid(info: tf.backend_util.Conv2DInfo): { Hq: number; Wq: number } {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const Hq = Math.max(Math.ceil((H + info.padInfo.top) / sh), Ho + Math.ceil(fh / sh) - 1);
  const Wq = Math.max(Math.ceil((W + info.padInfo.left) / sw), Wo + Math.ceil(fw / sw) - 1);
  return { Hq, Wq };
}

function tapsGridOverhead(info: tf.backend_util.Conv2DInfo): number {
  const { Hq, Wq } = tapsGrid(info);
  return (Hq * Wq) / (info.outHeight * info.outWidth);
}

/**
 * Conv2DBackpropFilter as one XNNPACK matrix product per filter tap, all against the same packed
 * operand (dy). Stride 1 first: on a common grid [B, Hq, Wq] (x padded; dy padded with zeros at the
 * bottom/right), tap (kh, kw) reads x at flat grid index j + kh*Wq + kw where dy is at j. So with x
 * transposed to [ci, B*Hq*Wq] (plus a zero row: the last taps read past the end), dW[kh,kw] [ci, co]
 * is the contiguous [ci, N] window of it starting kh*Wq + kw elements in, times dy [N, co]. XNNPACK
 * packs dy once (its operator is cached by dy's id), where a convolution re-packs all of dy as a
 * filter, slowly. Stride s: x is split into its s*s phases (x[i*s + p]); tap kh = p + s*j reads phase
 * p at row oh + j, a stride-1 shift on the phase grid.
 */
function backpropFilterTaps(backend: Backend, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: ci, outHeight: Ho, outWidth: Wo } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const { Hq, Wq } = tapsGrid(info);
  const N = B * Hq * Wq;
  const xt = transpose(backend, x, [3, 0, 1, 2]); // [ci, B, H, W]
  // [ci+1, B, Hq*sh, Wq*sw]: the extra channel is the zero margin the last window reads into.
  const xp = pad(backend, xt, [
    [0, 1],
    [0, 0],
    [top, Hq * sh - H - top],
    [left, Wq * sw - W - left],
  ]);
  dispose(backend, xt);
  let xq = xp; // [sh, sw, ci+1, B, Hq, Wq]
  if (sh > 1 || sw > 1) {
    xq = transpose(backend, { dataId: xp.dataId, shape: [((ci + 1) * N) / Wq, sh, Wq, sw], dtype: 'float32' }, [1, 3, 0, 2]);
    dispose(backend, xp);
  }
  const dyp =
    Hq === Ho && Wq === Wo
      ? dy
      : pad(backend, dy, [
          [0, 0],
          [0, Hq - Ho],
          [0, Wq - Wo],
          [0, 0],
        ]); // [B, Hq, Wq, co]
  const dw = tapsProducts(backend, xq, dyp, info, Hq, Wq);
  dispose(backend, xq);
  if (dyp !== dy) dispose(backend, dyp);
  return dw;
}

/** dW[kh, kw] = window(kh, kw) [ci, N] x dy [N, co], for every tap. */
function tapsProducts(backend: Backend, xq: TensorInfo, dyp: TensorInfo, info: tf.backend_util.Conv2DInfo, Hq: number, Wq: number): TensorInfo {
  const { batchSize: B, inChannels: ci, outChannels: co, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const N = B * Hq * Wq;
  const dyFlat: TensorInfo = { dataId: dyp.dataId, shape: [N, co], dtype: 'float32' };
  const dw = backend.makeOutput([fh, fw, ci, co], 'float32');
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const phase = (kh % sh) * sw + (kw % sw);
      const shift = Math.floor(kh / sh) * Wq + Math.floor(kw / sw);
      const a = heapView(backend, xq, phase * (ci + 1) * N + shift, [ci, N]);
      const t = fc(backend, a, dyFlat, ci, N, co);
      releaseHeapView(backend, a);
      (backend.typedArrayFromHeap(dw) as Float32Array).set(backend.typedArrayFromHeap(t) as Float32Array, (kh * fw + kw) * ci * co);
      dispose(backend, t);
    }
  }
  return dw;
}

/** Dilate dy [B,Ho,Wo,C] by strides: [B,(Ho-1)*sh+1,(Wo-1)*sw+1,C] with zeros between pixels. */
function dilate(backend: Backend, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [B, Ho, Wo, C] = dy.shape;
  const Hd = (Ho - 1) * sh + 1;
  const Wd = (Wo - 1) * sw + 1;
  const out = backend.makeOutput([B, Hd, Wd, C], 'float32');
  // Views only after the allocation: a malloc can grow (and detach) the heap.
  const src = backend.typedArrayFromHeap(dy) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  dst.fill(0);
  let s = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      let d = (b * Hd + oh * sh) * Wd * C;
      if (C === 1) {
        for (let ow = 0; ow < Wo; ow++, d += sw) dst[d] = src[s++];
      } else {
        for (let ow = 0; ow < Wo; ow++, d += sw * C, s += C) dst.set(src.subarray(s, s + C), d);
      }
    }
  }
  return out;
}

/**
 * The filter [fh,fw,ci,co] reversed in both spatial dims with its channels swapped: [fh,fw,co,ci].
 * One pass in JS over a small tensor: wasm's Reverse + Transpose took 0.6 ms on [5,5,20,50].
 */
function flipFilter(backend: Backend, filter: TensorInfo): TensorInfo {
  const [fh, fw, ci, co] = filter.shape;
  const out = backend.makeOutput([fh, fw, co, ci], 'float32');
  const w = backend.typedArrayFromHeap(filter) as Float32Array;
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const plane = ci * co;
  for (let k = 0; k < fh * fw; k++) {
    const src = k * plane;
    const dst = (fh * fw - 1 - k) * plane; // (fh-1-kh, fw-1-kw) flattened
    for (let i = 0; i < ci; i++) {
      let s = src + i * co;
      let d = dst + i;
      for (let j = 0; j < co; j++, d += ci) o[d] = w[s++];
    }
  }
  return out;
}

/**
 * rows [top, top+H) and columns [left, left+W) of x [B, R, Rw, C], as a new tensor: one contiguous
 * copy per row inside the wasm heap (wasm's Slice copies the whole tensor through JS first).
 */
function crop(backend: Backend, x: TensorInfo, top: number, left: number, H: number, W: number): TensorInfo {
  const [B, R, Rw, C] = x.shape;
  const out = backend.makeOutput([B, H, W, C], x.dtype);
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const row = W * C;
  let d = 0;
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < H; r++, d += row) {
      const s = ((b * R + top + r) * Rw + left) * C;
      dst.set(src.subarray(s, s + row), d);
    }
  }
  return out;
}

/**
 * Conv2DBackpropInput with stride > 1 as a "sub-pixel" convolution: output row i = q*sh + p - top
 * (phase p) gets sum_j dy[q - j] W[p + sh*j], so one stride-1 convolution of dy with a filter
 * [Th, Tw, co, sh*sw*ci] (Th = ceil(fh/sh): the taps of every phase, reversed, zero where a phase has
 * fewer) computes all phases at once; a Transpose interleaves them (depth-to-space) and, when the
 * padding is odd or rows are left over, a crop cuts out [H, W]. It multiplies Th*Tw*sh*sw taps per
 * output pixel group instead of fh*fw*sh*sw for dy dilated with zeros (2.25x fewer for 3x3/2, 4x
 * for 2x2/2). Returns undefined when the padding does not fit (the caller falls back).
 */
function subPixelBackpropInput(backend: Backend, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo | undefined {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: ci, outChannels: co, outHeight: Ho, outWidth: Wo } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const Th = Math.ceil(fh / sh);
  const Tw = Math.ceil(fw / sw);
  const q0h = Math.floor(top / sh);
  const q0w = Math.floor(left / sw);
  const offH = top - q0h * sh;
  const offW = left - q0w * sw;
  const Qh = Math.ceil((offH + H) / sh);
  const Qw = Math.ceil((offW + W) / sw);
  const padTop = Th - 1 - q0h;
  const padLeft = Tw - 1 - q0w;
  if (padTop < 0 || padLeft < 0) return undefined;
  const padBottom = Math.max(0, Qh + Th - 1 - padTop - Ho);
  const padRight = Math.max(0, Qw + Tw - 1 - padLeft - Wo);

  // F[th, tw, c_o, (ph, pw, c_i)] = W[ph + sh*(Th-1-th), pw + sw*(Tw-1-tw), c_i, c_o], or 0.
  const P = sh * sw * ci;
  const fInfo = backend.makeOutput([Th, Tw, co, P], 'float32');
  const w = backend.typedArrayFromHeap(filter) as Float32Array;
  const f = backend.typedArrayFromHeap(fInfo) as Float32Array;
  f.fill(0);
  for (let th = 0; th < Th; th++) {
    for (let ph = 0; ph < sh; ph++) {
      const kh = ph + sh * (Th - 1 - th);
      if (kh >= fh) continue;
      for (let tw = 0; tw < Tw; tw++) {
        for (let pw = 0; pw < sw; pw++) {
          const kw = pw + sw * (Tw - 1 - tw);
          if (kw >= fw) continue;
          const src = (kh * fw + kw) * ci * co;
          const dst = (th * Tw + tw) * co * P + (ph * sw + pw) * ci;
          for (let i = 0; i < ci; i++) {
            let s = src + i * co;
            let d = dst + i;
            for (let j = 0; j < co; j++, d += P) f[d] = w[s++];
          }
        }
      }
    }
  }
  const y = conv2d(backend, dy, fInfo, [1, 1], [padTop, padBottom, padLeft, padRight], [1, 1]); // [B, R, Rw, P]
  dispose(backend, fInfo);
  const [, R, Rw] = y.shape;
  // [B*R, Rw, sh, sw*ci] -> [B*R, sh, Rw, sw*ci], i.e. [B, R*sh, Rw*sw, ci].
  const t = transpose(backend, { dataId: y.dataId, shape: [B * R, Rw, sh, sw * ci], dtype: 'float32' }, [0, 2, 1, 3]);
  dispose(backend, y);
  if (offH === 0 && offW === 0 && R * sh === H && Rw * sw === W) {
    t.shape = [B, H, W, ci];
    return t;
  }
  const dx = crop(backend, { dataId: t.dataId, shape: [B, R * sh, Rw * sw, ci], dtype: 'float32' }, offH, offW, H, W);
  dispose(backend, t);
  return dx;
}

export function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs = {} } = args;
  const { dy, filter } = inputs;
  const fallback = () => wasmKernel(Conv2DBackpropInput)(args);
  const df = attrs.dataFormat;
  if ((df !== undefined && df !== 'NHWC' && df !== 'channelsLast') || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback();
  dilationsOneOrThrow(Conv2DBackpropInput, attrs.dilations);
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  if (dy.shape.length !== 4 || dy.shape[1] !== Ho || dy.shape[2] !== Wo) return fallback();
  if ((sh > 1 || sw > 1) && convTuning.stridedBackpropInput === 'original') return fallback();
  if ((sh > 1 || sw > 1) && convTuning.stridedBackpropInput === 'subpixel') {
    const dx = subPixelBackpropInput(backend, dy, filter, info);
    if (dx) return dx;
  }
  // Padding of the (dilated) dy so that a stride-1 convolution with the flipped filter gives [H, W].
  const Hd = (Ho - 1) * sh + 1;
  const Wd = (Wo - 1) * sw + 1;
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const bottom = H + fh - 1 - Hd - top;
  const right = W + fw - 1 - Wd - left;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return fallback();

  const wt = flipFilter(backend, filter);
  const src = sh === 1 && sw === 1 ? dy : dilate(backend, dy, sh, sw);
  const dx = conv2d(backend, src, wt, [1, 1], [top, bottom, left, right], [1, 1]);
  dispose(backend, wt);
  if (src !== dy) dispose(backend, src);
  return dx;
}
