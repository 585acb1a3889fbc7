/**
 * Training kernels for the wasm back end (docs/wasm-kernels.md), registered through tfjs's public
 * kernel registry when `selectBackend` picks wasm:
 *
 * - Conv2DBackpropFilter (missing on wasm): a forward XNNPACK Conv2D of x and dy, or one XNNPACK
 *   matrix product per filter tap, by shape (wasm/conv.ts).
 * - Conv2DBackpropInput: a forward XNNPACK Conv2D of the padded dy with the flipped filter (stride
 *   > 1: a sub-pixel convolution of all output phases at once), in place of wasm's direct loop.
 * - BatchMatMul: XNNPACK's fast path for every product: transposes done explicitly, the product run
 *   direct or swapped by cost, batches folded or looped; packing cached by data id made safe
 *   (wasm/matmul.ts).
 * - UnsortedSegmentSum (missing: the gradient of tf.gather): a loop over the wasm heap.
 * - GatherV2: one contiguous copy per index from a heap view (wasm's ~40 ns per element).
 * - MaxPoolGrad: wasm's drops the gradient of windows whose maximum is negative; replaced by a loop
 *   that picks the window's argmax exactly as the cpu back end does.
 * - ResizeBilinearGrad, ResizeNearestNeighborGrad: wasm's are wrong with halfPixelCenters; loops for
 *   that mode (wasm/resize.ts).
 * - Slice, SplitV, Unpack: wasm's Slice copies its whole input through JS for every slice (an LSTM's
 *   unstack over time paid that T times); copies from a heap view instead (wasm/slice.ts).
 * - Identity: wasm's copies the tensor; ours shares its data, as wasm's Reshape does (wasm/slice.ts).
 *
 * The kernels rely on the wasm back end's internals (makeOutput, dataIdMap, typedArrayFromHeap,
 * disposeData, its kernels' attrs), so they refuse any tfjs other than the one they were written for.
 */
import * as tf from '@tensorflow/tfjs';
import {
  BatchMatMul,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  GatherV2,
  Identity,
  MaxPoolGrad,
  ResizeBilinearGrad,
  ResizeNearestNeighborGrad,
  Slice,
  SplitV,
  Unpack,
  UnsortedSegmentSum,
} from '@tensorflow/tfjs';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { captureOriginal, captureUsedKernels } from './wasm/common.js';
import { conv2DBackpropFilter, conv2DBackpropInput } from './wasm/conv.js';
import { gatherV2, unsortedSegmentSum, maxPoolGrad } from './wasm/loops.js';
import { batchMatMul } from './wasm/matmul.js';
import { resizeBilinearGrad, resizeNearestNeighborGrad } from './wasm/resize.js';
import { identity, slice, splitV, unpack } from './wasm/slice.js';

/** The tfjs version these kernels are written for and tested against. */
export const WASM_KERNELS_TFJS_VERSION = '4.22.0';

/**
 * Throw unless both tfjs-core and tfjs-backend-wasm are WASM_KERNELS_TFJS_VERSION: the kernels use the
 * wasm back end's internals and kernel attrs, which other versions may change silently.
 */
export function checkTfjsVersions(found: { core: string; wasm: string }): void {
  const wrong: string[] = [];
  if (found.core !== WASM_KERNELS_TFJS_VERSION) wrong.push(`@tensorflow/tfjs-core ${found.core}`);
  if (found.wasm !== WASM_KERNELS_TFJS_VERSION) wrong.push(`@tensorflow/tfjs-backend-wasm ${found.wasm}`);
  if (wrong.length > 0) {
    throw new Error(
      `sps's wasm kernels are written for tfjs ${WASM_KERNELS_TFJS_VERSION}; found ${wrong.join(', ')}: ` +
        `pin @tensorflow/tfjs* to ${WASM_KERNELS_TFJS_VERSION} or use --backend cpu`,
    );
  }
}

type Func = (args: never) => tf.TensorInfo | tf.TensorInfo[];

/** Our kernels, by kernel name, in registration order. */
const KERNELS: ReadonlyArray<readonly [string, Func]> = [
  [Conv2DBackpropFilter, conv2DBackpropFilter],
  [Conv2DBackpropInput, conv2DBackpropInput],
  [BatchMatMul, batchMatMul],
  [UnsortedSegmentSum, unsortedSegmentSum],
  [GatherV2, gatherV2],
  [MaxPoolGrad, maxPoolGrad],
  [ResizeBilinearGrad, resizeBilinearGrad],
  [ResizeNearestNeighborGrad, resizeNearestNeighborGrad],
  [Slice, slice],
  [SplitV, splitV],
  [Unpack, unpack],
  [Identity, identity],
];

const OURS = new Set<unknown>(KERNELS.map(([, f]) => f));
const isOurs = (c: tf.KernelConfig): boolean => OURS.has(c.kernelFunc);

/**
 * Register sps's training kernels for the wasm back end (replacing wasm's own where it has one; the
 * originals are kept, some are still used). Idempotent: a second call changes nothing. Throws on a
 * tfjs other than WASM_KERNELS_TFJS_VERSION, before touching the registry.
 */
export function registerWasmTrainingKernels(): { registered: string[] } {
  checkTfjsVersions({ core: tf.version_core, wasm: version_wasm });
  captureUsedKernels(isOurs);
  const registered: string[] = [];
  for (const [kernelName, kernelFunc] of KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current && isOurs(current)) {
      registered.push(kernelName);
      continue;
    }
    captureOriginal(kernelName, isOurs);
    if (current) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    registered.push(kernelName);
  }
  return { registered };
}

/**
 * Put wasm's shipped kernels back (and drop the ones it lacks): for measuring and testing against
 * the back end as shipped. Idempotent.
 */
export function unregisterWasmTrainingKernels(): void {
  for (const [kernelName] of KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (!current || !isOurs(current)) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    const original = captureOriginal(kernelName, isOurs);
    if (original) tf.registerKernel(original);
  }
}
