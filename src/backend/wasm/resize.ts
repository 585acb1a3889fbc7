/**
 * Resize gradients for the wasm back end.
 *
 * ResizeBilinearGrad. wasm's kernel ignores `halfPixelCenters` (it computes the
 * gradient of the alignCorners/legacy sampling instead: wrong, silently, for
 * tf.image.resizeBilinear(x, size, false, true), the mode that matches PyTorch's
 * align_corners=False). With halfPixelCenters this loop, the exact adjoint of the forward sampling of
 * tfjs's back ends, is used; otherwise wasm's own kernel (correct there).
 */
import { ResizeBilinearGrad, ResizeNearestNeighborGrad } from '@tensorflow/tfjs';
import { type Backend, type KernelArgs, type TensorInfo, wasmKernel } from './common.js';

/** Source rows (or columns) and weights of each output row, as tfjs's forward ResizeBilinear. */
function axisWeights(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean) {
  const scale = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = halfPixelCenters ? scale * (o + 0.5) - 0.5 : scale * o;
    const floor = Math.max(0, Math.floor(src));
    lo[o] = floor;
    hi[o] = Math.min(inSize - 1, Math.ceil(src));
    // When lo = hi (the edges) the weight is 1 whatever frac is.
    frac[o] = lo[o] === hi[o] ? 0 : src - floor;
  }
  return { lo, hi, frac };
}

/** Shapes of a resize gradient (dy [B,Ho,Wo,C] → dx [B,H,W,C]), and dy's and a zeroed dx's heap views. */
function gradBuffers(kernel: string, backend: Backend, images: TensorInfo, dy: TensorInfo) {
  const [B, H, W, C] = images.shape;
  const [, Ho, Wo] = dy.shape;
  if (dy.shape.length !== 4 || dy.shape[0] !== B || dy.shape[3] !== C) {
    throw new Error(`sps wasm ${kernel}: dy shape [${dy.shape}] does not fit images [${images.shape}]`);
  }
  const out = backend.makeOutput([B, H, W, C], 'float32');
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  return { B, H, W, C, Ho, Wo, out, g, dx };
}

export function resizeBilinearGrad(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs = {} } = args;
  const { images, dy } = inputs;
  const alignCorners = attrs.alignCorners === true;
  const halfPixelCenters = attrs.halfPixelCenters === true;
  if (!halfPixelCenters || dy.dtype !== 'float32') return wasmKernel(ResizeBilinearGrad)(args);
  const { B, H, W, C, Ho, Wo, out, g, dx } = gradBuffers(ResizeBilinearGrad, backend, images, dy);
  const rw = axisWeights(H, Ho, alignCorners, halfPixelCenters);
  const cw = axisWeights(W, Wo, alignCorners, halfPixelCenters);
  let gi = 0;
  for (let b = 0; b < B; b++) {
    const base = b * H * W * C;
    for (let r = 0; r < Ho; r++) {
      const top = base + rw.lo[r] * W * C;
      const bottom = base + rw.hi[r] * W * C;
      const fr = rw.frac[r];
      for (let c = 0; c < Wo; c++, gi += C) {
        const left = cw.lo[c] * C;
        const right = cw.hi[c] * C;
        const fc = cw.frac[c];
        const wTL = (1 - fr) * (1 - fc);
        const wTR = (1 - fr) * fc;
        const wBL = fr * (1 - fc);
        const wBR = fr * fc;
        for (let d = 0; d < C; d++) {
          const v = g[gi + d];
          dx[top + left + d] += v * wTL;
          dx[top + right + d] += v * wTR;
          dx[bottom + left + d] += v * wBL;
          dx[bottom + right + d] += v * wBR;
        }
      }
    }
  }
  return out;
}

/** Source row (or column) of each output row, as tfjs's forward ResizeNearestNeighbor. */
function nearestSource(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Int32Array {
  const scale = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const src = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const frac = halfPixelCenters ? scale * (o + 0.5) : scale * o;
    let s = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
    if (halfPixelCenters) s = Math.max(0, s);
    src[o] = s;
  }
  return src;
}

/**
 * ResizeNearestNeighborGrad: wasm's is wrong with halfPixelCenters when the scale is not an integer
 * (e.g. 4x6 -> 7x9); this loop, each dy element added to the pixel the forward copied, is used in
 * that mode, wasm's otherwise.
 */
export function resizeNearestNeighborGrad(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs = {} } = args;
  const { images, dy } = inputs;
  const alignCorners = attrs.alignCorners === true;
  const halfPixelCenters = attrs.halfPixelCenters === true;
  if (!halfPixelCenters || dy.dtype !== 'float32') return wasmKernel(ResizeNearestNeighborGrad)(args);
  const { B, H, W, C, Ho, Wo, out, g, dx } = gradBuffers(ResizeNearestNeighborGrad, backend, images, dy);
  const rows = nearestSource(H, Ho, alignCorners, halfPixelCenters);
  const cols = nearestSource(W, Wo, alignCorners, halfPixelCenters);
  let gi = 0;
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < Ho; r++) {
      const rowBase = (b * H + rows[r]) * W;
      for (let c = 0; c < Wo; c++) {
        const dst = (rowBase + cols[c]) * C;
        for (let d = 0; d < C; d++) dx[dst + d] += g[gi++];
      }
    }
  }
  return out;
}
