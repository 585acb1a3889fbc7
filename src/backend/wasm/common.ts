/**
 * Shared plumbing for sps's wasm training kernels (see docs/wasm-kernels.md): the wasm back end's
 * own kernels, captured from tfjs's kernel registry before any of them is replaced, and small
 * helpers that call them on TensorInfos inside a kernel (no engine, no tape, no tensors).
 *
 * Written against @tensorflow/tfjs-backend-wasm 4.22.0 (the version check is in ../wasm-kernels.ts).
 */
import * as tf from '@tensorflow/tfjs';
import {
  BatchMatMul,
  Conv2D,
  Conv2DBackpropInput,
  GatherV2,
  Identity,
  PadV2,
  ResizeBilinearGrad,
  ResizeNearestNeighborGrad,
  Slice,
  SplitV,
  Transpose,
  Unpack,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type TensorInfo = tf.TensorInfo;
export type Backend = BackendWasm;

/** What tfjs hands a kernel function. */
export interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: Backend;
  attrs?: Record<string, unknown>;
}

/**
 * A kernel's attrs read as the type declared for its kernel (tfjs's XxxAttrs of kernel_names, or
 * sps's own in ../kernel-names.ts): the registry hands every kernel an untyped attribute map, which
 * the op that ran the kernel filled; this is the one place that says which type a kernel reads.
 */
export const attrsOf = <A extends object>(args: KernelArgs): A => (args.attrs ?? {}) as A;

/** A wasm kernel function called directly, with a TensorInfo out. */
export type WasmKernelFunc = (args: KernelArgs) => TensorInfo;

/** The wasm kernels this module calls (not replaced; or replaced, kept here as shipped). */
const USED = [
  Conv2D,
  Transpose,
  PadV2,
  Slice,
  SplitV,
  Unpack,
  BatchMatMul,
  Conv2DBackpropInput,
  ResizeBilinearGrad,
  ResizeNearestNeighborGrad,
  GatherV2,
  Identity,
] as const;
export type UsedKernel = (typeof USED)[number];

const originals = new Map<string, tf.KernelConfig>();

/**
 * Remember the registry's wasm kernel `name` as shipped. Called before a kernel is replaced; a second
 * call (idempotent registration) keeps the first capture, so our replacement is never mistaken for
 * the original.
 */
export function captureOriginal(name: string, isOurs: (c: tf.KernelConfig) => boolean): tf.KernelConfig | undefined {
  const known = originals.get(name);
  if (known) return known;
  const config = tf.getKernel(name, 'wasm');
  if (config && !isOurs(config)) originals.set(name, config);
  return originals.get(name);
}

/** The shipped wasm kernel `name` (captured before replacement, else looked up in the registry). */
export function wasmKernel(name: UsedKernel): WasmKernelFunc {
  const config = originals.get(name) ?? tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`sps wasm kernels: the wasm back end has no '${name}' kernel`);
  return config.kernelFunc as unknown as WasmKernelFunc;
}

/** Capture the kernels this module calls. Throws when one is missing. */
export function captureUsedKernels(isOurs: (c: tf.KernelConfig) => boolean): void {
  for (const name of USED) {
    if (!captureOriginal(name, isOurs)) throw new Error(`sps wasm kernels: the wasm back end has no '${name}' kernel`);
  }
}

export function dispose(backend: Backend, ...infos: (TensorInfo | undefined)[]): void {
  for (const t of infos) if (t) backend.disposeData(t.dataId);
}

/** Transpose with wasm's kernel (a copy in C++). */
export function transpose(backend: Backend, x: TensorInfo, perm: number[]): TensorInfo {
  return wasmKernel(Transpose)({ inputs: { x }, backend, attrs: { perm } });
}

/**
 * A view of `x` with another shape, sharing its data and not counted: valid only while `x` lives,
 * and never to be disposed or returned. For handing to a kernel that reads it.
 */
export function view(x: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

/** Forward NHWC Conv2D with wasm's (XNNPACK) kernel. `pad` is [top, bottom, left, right]. */
export function conv2d(
  backend: Backend,
  x: TensorInfo,
  filter: TensorInfo,
  strides: [number, number],
  pad: [number, number, number, number],
  dilations: [number, number],
): TensorInfo {
  const [t, b, l, r] = pad;
  return wasmKernel(Conv2D)({
    inputs: { x, filter },
    backend,
    attrs: {
      strides,
      pad: [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ],
      dilations,
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    },
  });
}

/** Zero padding with wasm's PadV2; `paddings` per dim [before, after]. */
export function pad(backend: Backend, x: TensorInfo, paddings: [number, number][]): TensorInfo {
  return wasmKernel(PadV2)({ inputs: { x }, backend, attrs: { paddings, constantValue: 0 } });
}

/**
 * A float32 tensor over elements [offset, offset + size(shape)) of `base`'s heap memory, known to
 * the wasm back end (so its kernels accept it) but owning nothing: it must be released with
 * releaseHeapView (never disposeData, which would free an interior pointer) while `base` lives.
 */
export function heapView(backend: Backend, base: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const { memoryOffset } = backend.dataIdMap.get(base.dataId)!;
  return backend.makeOutput(shape, 'float32', memoryOffset + offset * 4);
}

export function releaseHeapView(backend: Backend, v: TensorInfo): void {
  const data = backend.dataIdMap.get(v.dataId);
  if (!data) return;
  (backend.wasm as unknown as { tfjs: { disposeData(id: number): void } }).tfjs.disposeData(data.id);
  backend.dataIdMap.delete(v.dataId);
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** [h, w] from a number or a pair, as tfjs attrs give strides and dilations. */
export function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number')) return [v[0], v[1]];
  if (v === undefined || v === null) return [1, 1];
  throw new Error(`sps wasm kernels: unsupported ${what} ${JSON.stringify(v)}`);
}
