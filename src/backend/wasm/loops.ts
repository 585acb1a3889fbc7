/**
 * Kernels written as plain loops over the wasm heap: UnsortedSegmentSum (missing on wasm 4.22.0; the
 * gradient of tf.gather), GatherV2 (wasm's costs ~40 ns per element copied, an embedding lookup of
 * 8,000 characters took 9 ms, and it is wrong with batchDims > 0) and MaxPoolGrad (wasm's drops the gradient of windows whose maximum is
 * negative).
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, type TensorInfo, sizeOf, wasmKernel } from './common.js';

/**
 * out[b, o, j, i] = x[b, o, indices[b, j], i], with b over the first `batchDims` dims (shared by x and
 * indices), o over x's other dims before `axis`, j over the other index dims and i over x's dims after
 * `axis`: one contiguous copy of the inner block per index. (wasm's own kernel returns garbage for
 * batchDims > 0.) An index outside [0, x.shape[axis]) is an error, as on the cpu back end.
 */
export function gatherV2(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, indices } = inputs;
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') return wasmKernel('GatherV2')(args);
  const axis = tf.util.parseAxisParam(Number(attrs?.axis ?? 0), x.shape)[0];
  let bd = Number(attrs?.batchDims ?? 0);
  if (bd < 0) bd += indices.shape.length;
  if (!Number.isInteger(bd) || bd > axis || x.shape.slice(0, bd).some((d, i) => d !== indices.shape[i])) {
    throw new Error(`sps wasm GatherV2: batchDims ${String(attrs?.batchDims)} does not fit x [${x.shape}], indices [${indices.shape}], axis ${axis}`);
  }
  const N = x.shape[axis];
  const batch = sizeOf(x.shape.slice(0, bd));
  const outer = sizeOf(x.shape.slice(bd, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const per = sizeOf(indices.shape.slice(bd));
  const out = backend.makeOutput([...x.shape.slice(0, axis), ...indices.shape.slice(bd), ...x.shape.slice(axis + 1)], x.dtype);
  const ids = backend.typedArrayFromHeap(indices) as Int32Array;
  for (let j = 0; j < ids.length; j++) {
    if (ids[j] < 0 || ids[j] >= N) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${ids[j]} is not in [0, ${N - 1}]`);
    }
  }
  const src = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  let d = 0;
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outer; o++) {
      const base = (b * outer + o) * N * inner;
      for (let j = b * per, end = j + per; j < end; j++, d += inner) {
        const from = base + ids[j] * inner;
        if (inner === 1) dst[d] = src[from];
        else dst.set(src.subarray(from, from + inner), d);
      }
    }
  }
  return out;
}

/**
 * out[s, ...] = sum of x[i, ...] over the i with segmentIds[i] = s, for s in [0, numSegments); ids
 * out of range are dropped (as on the cpu back end). segmentIds may have any rank r; x's first r dims
 * are its shape. The output has x's dtype.
 */
export function unsortedSegmentSum(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const { x, segmentIds } = inputs;
  const numSegments = Number(args.attrs?.numSegments);
  if (!Number.isInteger(numSegments) || numSegments < 0)
    throw new Error(`sps wasm UnsortedSegmentSum: numSegments must be a non-negative integer, got ${String(args.attrs?.numSegments)}`);
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`sps wasm UnsortedSegmentSum: dtype ${x.dtype} is not supported (float32, int32)`);
  if (segmentIds.dtype !== 'int32') throw new Error(`sps wasm UnsortedSegmentSum: segmentIds must be int32, got ${segmentIds.dtype}`);
  const r = segmentIds.shape.length;
  for (let i = 0; i < r; i++) {
    if (segmentIds.shape[i] !== x.shape[i])
      throw new Error(`sps wasm UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] is not a prefix of x shape [${x.shape}]`);
  }
  const inner = x.shape.slice(r);
  const n = sizeOf(segmentIds.shape);
  const k = sizeOf(inner);
  const out = backend.makeOutput([numSegments, ...inner], x.dtype);
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const xs = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const o = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  o.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    let src = i * k;
    let dst = s * k;
    const end = dst + k;
    // (An Int32Array store wraps modulo 2^32, like int32 arithmetic.)
    while (dst < end) o[dst++] += xs[src++];
  }
  return out;
}

function hasNaN(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== x[i]) return true;
  return false;
}

/** Position of the first maximum of one channel's window (row-major), or -1: cpu's maxPoolPositions. */
function windowArgmax(x: Float32Array, first: number, rows: number, cols: number, rowStride: number, C: number): number {
  let best = -Infinity;
  let pos = -1;
  for (let r = 0, rowBase = first; r < rows; r++, rowBase += rowStride) {
    for (let c = 0, p = rowBase; c < cols; c++, p += C) {
      const v = x[p];
      // A later value wins only if strictly greater; NaN never wins; padding is never visited.
      if (v > best) {
        best = v;
        pos = p;
      }
    }
  }
  return pos;
}

/**
 * maxPoolGrad's common case, 2×2 windows at stride 2 that all lie inside the input (the pools of the
 * LeNet and the U-net): cpu's rule applied to the four candidates directly (a later value wins only
 * if strictly greater, NaN never wins), without the forward output as a hint and so without the NaN
 * scan of the whole input that the hint needs.
 */
function maxPool2x2Grad(x: Float32Array, g: Float32Array, dx: Float32Array, B: number, H: number, Ho: number, Wo: number, C: number, rowStride: number): void {
  let gi = 0;
  for (let b = 0; b < B; b++) {
    for (let yr = 0; yr < Ho; yr++) {
      const rowBase = (b * H + 2 * yr) * rowStride;
      for (let yc = 0; yc < Wo; yc++) {
        const p0 = rowBase + 2 * yc * C;
        for (let d = 0; d < C; d++, gi++) {
          const p = p0 + d;
          const q = p + rowStride;
          let pos = x[p] > -Infinity ? p : -1;
          let best = pos < 0 ? -Infinity : x[p];
          if (x[p + C] > best) {
            pos = p + C;
            best = x[pos];
          }
          if (x[q] > best) {
            pos = q;
            best = x[q];
          }
          if (x[q + C] > best) pos = q + C;
          if (pos >= 0) dx[pos] += g[gi];
        }
      }
    }
  }
}

/** tfjs's pool info for a MaxPoolGrad's input [B, H, W, C] and attrs. */
export function poolInfo(input: TensorInfo, attrs: Record<string, unknown>): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
}

/** 2×2 windows at stride 2 without padding, all inside the input: the pools of the LeNet and the U-net. */
export function plain2x2(info: tf.backend_util.Conv2DInfo): boolean {
  return (
    info.effectiveFilterHeight === 2 &&
    info.effectiveFilterWidth === 2 &&
    info.strideHeight === 2 &&
    info.strideWidth === 2 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0 &&
    2 * info.outHeight <= info.inHeight &&
    2 * info.outWidth <= info.inWidth
  );
}

/**
 * dx[b, r, c, d] = sum of dy[b, yr, yc, d] over the output positions whose window's maximum is input
 * (r, c), the window's maximum being picked exactly as tfjs-backend-cpu's maxPoolPositions does:
 * the first in row-major window order on ties, padding never, NaN never, none if the window holds
 * only NaN and -Infinity.
 *
 * With the forward output y (an input of the kernel: the window maxima) the argmax is the first window
 * element equal to y: the same element, found with far fewer mispredicted branches than the
 * running-max scan. Windows whose y is -Infinity, and inputs holding NaN (where XNNPACK's max is not
 * cpu's), are scanned in full.
 */
export function maxPoolGrad(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs = {} } = args;
  const { dy, input, output } = inputs;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('sps wasm MaxPoolGrad: float32 only');
  const info = poolInfo(input, attrs);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (dy.shape.length !== 4 || dy.shape[0] !== B || dy.shape[1] !== Ho || dy.shape[2] !== Wo || dy.shape[3] !== C) {
    throw new Error(`sps wasm MaxPoolGrad: dy shape [${dy.shape}] does not match [${[B, Ho, Wo, C]}]`);
  }
  const dxInfo = backend.makeOutput(input.shape, 'float32');
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const rowStride = W * C;
  if (plain2x2(info)) {
    const dx = backend.typedArrayFromHeap(dxInfo) as Float32Array;
    dx.fill(0);
    maxPool2x2Grad(x, backend.typedArrayFromHeap(dy) as Float32Array, dx, B, H, Ho, Wo, C, rowStride);
    return dxInfo;
  }
  // XNNPACK's max over a window holding NaN can be a value below the window's maximum: then y is no
  // hint. (One predictable pass over x.)
  const useY = output !== undefined && output.dtype === 'float32' && sizeOf(output.shape) === B * Ho * Wo * C && !hasNaN(x);
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const y = useY ? (backend.typedArrayFromHeap(output) as Float32Array) : g;
  const dx = backend.typedArrayFromHeap(dxInfo) as Float32Array;
  dx.fill(0);
  let gi = 0;
  for (let b = 0; b < B; b++) {
    const xb = b * H * rowStride;
    for (let yr = 0; yr < Ho; yr++) {
      const r0 = yr * sh - padTop;
      const rMin = Math.max(0, r0);
      const rows = Math.min(H, r0 + fh) - rMin;
      for (let yc = 0; yc < Wo; yc++, gi += C) {
        const c0 = yc * sw - padLeft;
        const cMin = Math.max(0, c0);
        const cols = Math.min(W, c0 + fw) - cMin;
        const first = xb + rMin * rowStride + cMin * C;
        for (let d = 0; d < C; d++) {
          let pos = -1;
          const m = useY ? y[gi + d] : -Infinity;
          // (m is NaN or -Infinity: the scan decides, as cpu's first-strictly-greater rule.)
          if (m > -Infinity) {
            search: for (let r = 0, rowBase = first + d; r < rows; r++, rowBase += rowStride) {
              for (let c = 0, p = rowBase; c < cols; c++, p += C) {
                if (x[p] === m) {
                  pos = p;
                  break search;
                }
              }
            }
          }
          if (pos < 0) pos = windowArgmax(x, first + d, rows, cols, rowStride, C);
          if (pos >= 0) dx[pos] += g[gi + d];
        }
      }
    }
  }
  return dxInfo;
}
