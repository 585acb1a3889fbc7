/**
 * `--backend blas`: the wasm back end with sps's training kernels (./wasm-kernels.ts), whose matrix
 * products and convolutions are then replaced by OpenBLAS ones from sps's addon (./blas/), with sps's
 * own kernels added (the LSTM recurrence, the ReLU gradient, Adam, the fused chain CRF), and the
 * gradients of sum and mean by those of ./blas/gradients.ts. tfjs still calls the back end 'wasm':
 * the kernels are swapped in its registry, and swapped back by unregisterBlasKernels (selectBackend
 * does that when wasm itself is asked for). Why and how fast: docs/backends.md.
 */
import * as tf from '@tensorflow/tfjs';
import { type BlasAddon, loadBlasAddon } from './blas/addon.js';
import {
  type BlasKernel,
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
  maxPoolGrad,
  RELU_GRAD,
  reluGrad,
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
} from './blas/kernels.js';
import { registerBlasGradients, unregisterBlasGradients } from './blas/gradients.js';
import type { KernelArgs } from './wasm/common.js';

const KERNELS: ReadonlyArray<readonly [string, BlasKernel]> = [
  ['BatchMatMul', batchMatMul],
  ['_FusedMatMul', fusedMatMul],
  ['Conv2D', conv2D],
  ['FusedConv2D', fusedConv2D],
  ['Conv2DBackpropInput', conv2DBackpropInput],
  ['Conv2DBackpropFilter', conv2DBackpropFilter],
  ['Sum', sum],
  ['Concat', concat],
  ['SplitV', splitV],
  ['Multiply', multiply],
  ['Tile', tile],
  ['Transpose', transpose],
  ['MaxPoolGrad', maxPoolGrad],
  [LSTM_RECURRENCE, lstmRecurrence],
  [LSTM_RECURRENCE_GRAD, lstmRecurrenceGrad],
  [ADAM_UPDATE, adamUpdate],
  [RELU_GRAD, reluGrad],
  [CHAIN_CRF, chainCrf],
  [CHAIN_CRF_GRAD, chainCrfGrad],
  [CHAIN_VITERBI, chainViterbi],
];

/** Kernels of sps's own: nothing to replace, nothing to fall back on. */
const OWN = new Set([LSTM_RECURRENCE, LSTM_RECURRENCE_GRAD, ADAM_UPDATE, RELU_GRAD, CHAIN_CRF, CHAIN_CRF_GRAD, CHAIN_VITERBI]);

/** The kernels the blas ones replaced (by name; undefined for our own), while they are registered. */
const replaced = new Map<string, tf.KernelConfig | undefined>();

export const blasKernelsRegistered = (): boolean => replaced.size > 0;

/**
 * Swap the blas kernels into the wasm back end's registry (after the wasm training kernels, which
 * they fall back on). Idempotent. Throws, naming the build command, when the addon cannot be loaded.
 */
export function registerBlasKernels(): { registered: string[]; corename: string } {
  const loaded = loadBlasAddon();
  if ('why' in loaded) throw new Error(loaded.why);
  if (replaced.size === 0) {
    for (const [kernelName, kernel] of KERNELS) {
      const previous = OWN.has(kernelName) ? undefined : tf.getKernel(kernelName, 'wasm');
      if (!previous && !OWN.has(kernelName)) throw new Error(`sps blas kernels: the wasm back end has no '${kernelName}' kernel`);
      replaced.set(kernelName, previous);
      if (previous) tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: bind(loaded.addon, kernel, previous) });
    }
    registerBlasGradients();
  }
  return { registered: KERNELS.map(([n]) => n), corename: loaded.corename };
}

function bind(addon: BlasAddon, kernel: BlasKernel, previous: tf.KernelConfig | undefined): tf.KernelFunc {
  const fallback = (previous?.kernelFunc ?? noFallback) as unknown as Fallback;
  return ((args: KernelArgs) => kernel(addon, args, fallback)) as unknown as tf.KernelFunc;
}

const noFallback = (): never => {
  throw new Error('sps blas kernels: no fallback');
};

/** Put back the kernels the blas ones replaced (and drop our own) and tfjs's gradients. Idempotent. */
export function unregisterBlasKernels(): void {
  unregisterBlasGradients();
  for (const [kernelName, previous] of replaced) {
    tf.unregisterKernel(kernelName, 'wasm');
    if (previous) tf.registerKernel(previous);
  }
  replaced.clear();
}
