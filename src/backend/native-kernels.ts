/**
 * `--backend native` (alias `blas`): the wasm back end with sps's training kernels (./wasm-kernels.ts), whose matrix
 * products and convolutions are then replaced by OpenBLAS ones from sps's addon (./native/), with sps's
 * own kernels added (the LSTM recurrence, the ReLU gradient, Adam, clipping's squared norm, the fused chain CRF), and the
 * gradients of sum and mean by those of ./native/gradients.ts. tfjs still calls the back end 'wasm':
 * the kernels are swapped in its registry, and swapped back by unregisterNativeKernels (selectBackend
 * does that when wasm itself is asked for). Why and how fast: docs/backends.md.
 */
import * as tf from '@tensorflow/tfjs';
import {
  BatchMatMul,
  Concat,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  FusedConv2D,
  _FusedMatMul,
  MaxPool,
  MaxPoolGrad,
  Multiply,
  SplitV,
  Sum,
  Tile,
  Transpose,
} from '@tensorflow/tfjs';
import { type NativeAddon, loadNativeAddon } from './native/addon.js';
import {
  type NativeKernel,
  type Fallback,
  batchMatMul,
  conv2D,
  conv2DBackpropFilter,
  conv2DBackpropInput,
  fusedConv2D,
  fusedMatMul,
  ADAM_UPDATE,
  adamUpdate,
  concat,
  multiply,
  splitV,
  sum,
  tile,
  transpose,
  maxPool,
  maxPoolGrad,
  RELU_GRAD,
  reluGrad,
  ALEA_UNIFORM,
  aleaUniform,
  SQUARED_NORM,
  squaredNorm,
  LSTM_RECURRENCE,
  LSTM_RECURRENCE_GRAD,
  lstmRecurrence,
  lstmRecurrenceGrad,
  CHAIN_CRF,
  CHAIN_CRF_GRAD,
  CHAIN_VITERBI,
  chainCrf,
  chainCrfGrad,
  chainViterbi,
} from './native/kernels.js';
import { registerNativeGradients, unregisterNativeGradients } from './native/gradients.js';
import type { KernelArgs } from './wasm/common.js';

const KERNELS: ReadonlyArray<readonly [string, NativeKernel]> = [
  [BatchMatMul, batchMatMul],
  [_FusedMatMul, fusedMatMul],
  [Conv2D, conv2D],
  [FusedConv2D, fusedConv2D],
  [Conv2DBackpropInput, conv2DBackpropInput],
  [Conv2DBackpropFilter, conv2DBackpropFilter],
  [Sum, sum],
  [Concat, concat],
  [SplitV, splitV],
  [Multiply, multiply],
  [Tile, tile],
  [Transpose, transpose],
  [MaxPool, maxPool],
  [MaxPoolGrad, maxPoolGrad],
  [LSTM_RECURRENCE, lstmRecurrence],
  [LSTM_RECURRENCE_GRAD, lstmRecurrenceGrad],
  [ADAM_UPDATE, adamUpdate],
  [RELU_GRAD, reluGrad],
  [ALEA_UNIFORM, aleaUniform],
  [SQUARED_NORM, squaredNorm],
  [CHAIN_CRF, chainCrf],
  [CHAIN_CRF_GRAD, chainCrfGrad],
  [CHAIN_VITERBI, chainViterbi],
];

/** Kernels of sps's own: nothing to replace, nothing to fall back on. */
const OWN = new Set([LSTM_RECURRENCE, LSTM_RECURRENCE_GRAD, ADAM_UPDATE, RELU_GRAD, ALEA_UNIFORM, SQUARED_NORM, CHAIN_CRF, CHAIN_CRF_GRAD, CHAIN_VITERBI]);

/** The kernels the native ones replaced (by name; undefined for our own), while they are registered. */
const replaced = new Map<string, tf.KernelConfig | undefined>();

export const nativeKernelsRegistered = (): boolean => replaced.size > 0;

/**
 * Swap the native kernels into the wasm back end's registry (after the wasm training kernels, which
 * they fall back on). Idempotent. Throws, naming the build command, when the addon cannot be loaded.
 */
export function registerNativeKernels(): { registered: string[]; corename: string } {
  const loaded = loadNativeAddon();
  if ('why' in loaded) throw new Error(loaded.why);
  if (replaced.size === 0) {
    for (const [kernelName, kernel] of KERNELS) {
      const previous = OWN.has(kernelName) ? undefined : tf.getKernel(kernelName, 'wasm');
      if (!previous && !OWN.has(kernelName)) throw new Error(`sps native kernels: the wasm back end has no '${kernelName}' kernel`);
      replaced.set(kernelName, previous);
      if (previous) tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: bind(loaded.addon, kernel, previous) });
    }
    registerNativeGradients();
  }
  return { registered: KERNELS.map(([n]) => n), corename: loaded.corename };
}

function bind(addon: NativeAddon, kernel: NativeKernel, previous: tf.KernelConfig | undefined): tf.KernelFunc {
  const fallback = (previous?.kernelFunc ?? noFallback) as unknown as Fallback;
  return ((args: KernelArgs) => kernel(addon, args, fallback)) as unknown as tf.KernelFunc;
}

const noFallback = (): never => {
  throw new Error('sps native kernels: no fallback');
};

/** Put back the kernels the native ones replaced (and drop our own) and tfjs's gradients. Idempotent. */
export function unregisterNativeKernels(): void {
  unregisterNativeGradients();
  for (const [kernelName, previous] of replaced) {
    tf.unregisterKernel(kernelName, 'wasm');
    if (previous) tf.registerKernel(previous);
  }
  replaced.clear();
}
