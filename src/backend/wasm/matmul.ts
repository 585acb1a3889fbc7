/**
 * BatchMatMul for the wasm back end.
 *
 * wasm's kernel runs XNNPACK's fully-connected operator only for batch 1 with no transposed operand:
 * with transposeA/transposeB, or a batch > 1, it falls onto a loop 5-17x slower. And XNNPACK
 * re-packs its "weights" operand (b) on every call whose b is a new tensor (always, in training), a
 * cost in K*N that dominates when the output has few rows (M small). So, per [M,K]x[K,N] product:
 *
 * - direct:  out = op(a) x op(b); a transposed operand is transposed first (wasm's Transpose).
 * - swapped: out = (op(b)^T x op(a)^T)^T; the smaller operand becomes the packed "weights", and a
 *   transposed operand is used as it lies. Chosen by a cost estimate (chooseSwap).
 *
 * Batches: a batch-1 operand broadcast against a batched one is folded into the rows when it is b;
 * otherwise each batch element is a separate 2-D product on contiguous copies (wasm's Slice copies
 * whole tensors through JS; these copy only the element).
 */
import * as tf from '@tensorflow/tfjs';
import { BatchMatMul } from '@tensorflow/tfjs';
import { type Backend, type KernelArgs, type TensorInfo, dispose, sizeOf, transpose, view, wasmKernel } from './common.js';

/** For measurements and tests: force a plan for 2-D products. */
export const matMulTuning: { plan: 'auto' | 'direct' | 'swapped' } = { plan: 'auto' };

/**
 * [r, c] matrix `x` transposed to [c, r]: a copy (owned), or a view when r or c is 1 and it is not
 * to be packed as weights (a vector's data packed in its transposed shape would collide, in XNNPACK's
 * cache, with the same data packed as it is by wasm's own _FusedMatMul; see packedAs).
 */
function t2(backend: Backend, x: TensorInfo, r: number, c: number, weights = false): { t: TensorInfo; owned: boolean } {
  if ((r === 1 || c === 1) && !weights) return { t: view(x, [c, r]), owned: false };
  return { t: transpose(backend, view(x, [r, c]), [1, 0]), owned: true };
}

/**
 * The (K, N) each data id was last packed with as XNNPACK "weights". wasm's BatchMatMul caches its
 * XNNPACK operator (the packed b) by b's data id alone, not by shape: the same data read as [K, N]
 * and later as [K', N'] (a reshape shares the data id; so do our views) silently reuses the stale
 * packing and returns garbage (tfjs-backend-wasm 4.22.0). So a b whose id was packed with another
 * shape is copied first; the copy has a fresh id.
 */
const packedAs = new WeakMap<object, string>();

/**
 * wasm's BatchMatMul on [M,K] x [K,N], no transposes: XNNPACK's fully-connected operator, which packs
 * b (or reuses its packing of b's data id).
 */
export function fc(backend: Backend, a: TensorInfo, b: TensorInfo, M: number, K: number, N: number): TensorInfo {
  const key = `${K}x${N}`;
  const prev = packedAs.get(b.dataId);
  let w = b;
  if (prev === undefined) packedAs.set(b.dataId, key);
  else if (prev !== key) w = copy(backend, b, [K, N]);
  const out = wasmKernel(BatchMatMul)({
    inputs: { a: view(a, [M, K]), b: view(w, [K, N]) },
    backend,
    attrs: { transposeA: false, transposeB: false },
  });
  if (w !== b) dispose(backend, w);
  out.shape = [M, N];
  return out;
}

function copy(backend: Backend, x: TensorInfo, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, x.dtype);
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  (backend.typedArrayFromHeap(out) as Float32Array).set(src.subarray(0, sizeOf(shape)));
  return out;
}

/** How many products each data id has been the b of (a b seen twice is likely a reused weight). */
const usedAsB = new WeakMap<object, number>();

/**
 * Estimated cost (arbitrary units, fitted on wasm SIMD) of each plan: transposes and XNNPACK weight
 * packing cost per element. The direct plan packs b, unless b's packing is cached (the same data id
 * and shape) or b looks reused (seen before: a recurrent weight used at every time step), when it
 * packs once for all uses.
 */
export function chooseSwap(M: number, K: number, N: number, tA: boolean, tB: boolean, b?: TensorInfo): boolean {
  if (matMulTuning.plan !== 'auto') return matMulTuning.plan === 'swapped';
  const tr = (r: number, c: number) => (r === 1 || c === 1 ? 0 : r * c); // (vectors: a view, or a tiny copy)
  const PACK = 2;
  const TRANSPOSE = 1;
  const reused = b !== undefined && !tB && (packedAs.get(b.dataId) === `${K}x${N}` || (usedAsB.get(b.dataId) ?? 0) > 0);
  const direct = TRANSPOSE * ((tA ? tr(K, M) : 0) + (tB ? tr(N, K) : 0)) + (reused ? 0 : PACK * K * N);
  const swapped = TRANSPOSE * ((tB ? 0 : tr(K, N)) + (tA ? 0 : tr(M, K)) + tr(N, M)) + PACK * K * M;
  return swapped < direct;
}

/** op(a) x op(b) for 2-D a, b (views allowed): op(a) is [M,K], op(b) is [K,N]. */
function matMul2d(backend: Backend, a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean, M: number, K: number, N: number): TensorInfo {
  const swap = chooseSwap(M, K, N, tA, tB, b);
  usedAsB.set(b.dataId, (usedAsB.get(b.dataId) ?? 0) + 1);
  if (!swap) {
    const ia = tA ? t2(backend, a, K, M) : { t: a, owned: false };
    const wb = tB ? t2(backend, b, N, K, true) : { t: b, owned: false };
    const out = fc(backend, ia.t, wb.t, M, K, N);
    if (ia.owned) dispose(backend, ia.t);
    if (wb.owned) dispose(backend, wb.t);
    return out;
  }
  // out^T [N,M] = op(b)^T [N,K] x op(a)^T [K,M]
  const ib = tB ? { t: b, owned: false } : t2(backend, b, K, N);
  const wa = tA ? { t: a, owned: false } : t2(backend, a, M, K, true);
  const outT = fc(backend, ib.t, wa.t, N, K, M);
  if (ib.owned) dispose(backend, ib.t);
  if (wa.owned) dispose(backend, wa.t);
  const out = t2(backend, outT, N, M);
  if (!out.owned) return { dataId: outT.dataId, shape: [M, N], dtype: 'float32' };
  dispose(backend, outT);
  return out.t;
}

/** A contiguous copy of elements [offset, offset + size) of `x`, as a new tensor of `shape`. */
function copyPart(backend: Backend, x: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, x.dtype);
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  dst.set(src.subarray(offset, offset + dst.length));
  return out;
}

/**
 * The shapes of op(a)·op(b) when both kernels' fast paths cover them (float32 checked by the caller):
 * [M,K]·[K,N] per batch element, with equal outer shapes or one operand of batch 1 broadcast (sA/sB,
 * the element strides of a batch element, 0 for a broadcast operand); the output's outer shape is
 * the broadcast of both, as tfjs's ([1,1,4,5]·[3,5,6] → [1,3,4,6]). undefined: general broadcasting,
 * an empty product, mismatched inner dims, rank < 2 (the callers' fallback reports shape errors).
 */
export function productShape(a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean) {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return undefined;
  const M = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = tB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  const same = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
  if (K !== Kb || M * K * N === 0 || !(same || batchA === 1 || batchB === 1)) return undefined;
  const outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  return { M, N, K, batchA, batchB, batch: Math.max(batchA, batchB), sA: batchA === 1 ? 0 : M * K, sB: batchB === 1 ? 0 : K * N, outShape: [...outer, M, N] };
}

export function batchMatMul(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs = {} } = args;
  const { a, b } = inputs;
  const tA = attrs.transposeA === true;
  const tB = attrs.transposeB === true;
  const shape = a.dtype === 'float32' && b.dtype === 'float32' ? productShape(a, b, tA, tB) : undefined;
  // Shapes the fast paths do not cover go to wasm's kernel, which also reports shape errors.
  if (!shape) return wasmKernel(BatchMatMul)(args);
  const { M, K, N, batchA, batchB, batch, outShape } = shape;

  if (batchA === 1 && batchB === 1) {
    const out = matMul2d(backend, a, b, tA, tB, M, K, N);
    out.shape = outShape;
    return out;
  }
  if (batchB === 1 && !tA) {
    // Rows of every batch element of a against one b: a single [batchA*M, K] x [K, N].
    const out = matMul2d(backend, a, b, false, tB, batchA * M, K, N);
    out.shape = outShape;
    return out;
  }
  // One 2-D product per batch element, on contiguous copies (a broadcast operand is used as is).
  const sizeA = M * K;
  const sizeB = K * N;
  const sizeO = M * N;
  const out = backend.makeOutput(outShape, 'float32');
  for (let i = 0; i < batch; i++) {
    const ai = batchA === 1 ? a : copyPart(backend, a, i * sizeA, tA ? [K, M] : [M, K]);
    const bi = batchB === 1 ? b : copyPart(backend, b, i * sizeB, tB ? [N, K] : [K, N]);
    const oi = matMul2d(backend, ai, bi, tA, tB, M, K, N);
    if (ai !== a) dispose(backend, ai);
    if (bi !== b) dispose(backend, bi);
    const src = backend.typedArrayFromHeap({ ...oi, shape: [sizeO] }) as Float32Array;
    (backend.typedArrayFromHeap(out) as Float32Array).set(src, i * sizeO);
    dispose(backend, oi);
  }
  return out;
}
