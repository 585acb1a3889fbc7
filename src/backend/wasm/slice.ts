/**
 * Slice, SplitV and Unpack for the wasm back end. wasm's Slice reads its whole input into JS
 * (readSync copies the heap) before copying out the slice: unstacking a [16,30,400] tensor along
 * time copied 30 times 192k floats. Here the slice is copied straight from a view of the heap, one
 * contiguous run (the innermost dims taken whole) at a time. SplitV and Unpack are wasm's, on this
 * Slice (wasm's call their own Slice directly, not through the registry).
 */
import * as tf from '@tensorflow/tfjs';
import { Identity, Slice, SplitV, Unpack } from '@tensorflow/tfjs';
import { type Backend, type TensorInfo, sizeOf, wasmKernel } from './common.js';

type Args = { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, unknown> };

function sliceInfo(backend: Backend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const r = x.shape.length;
  const out = backend.makeOutput(size, x.dtype);
  const n = sizeOf(size);
  if (n === 0) return out;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  // The innermost dims taken whole, and the first one that is not, form one contiguous run.
  let d = r - 1;
  let run = 1;
  while (d >= 0 && size[d] === x.shape[d]) run *= size[d--];
  if (d < 0) {
    dst.set(src.subarray(0, n));
    return out;
  }
  run *= size[d];
  const strides = tf.util.computeStrides(x.shape); // strides[i] for i < r-1; the last is 1
  const stride = (i: number) => (i === r - 1 ? 1 : strides[i]);
  let base = 0;
  for (let i = 0; i <= d; i++) base += begin[i] * stride(i);
  if (d === 0) {
    dst.set(src.subarray(base, base + run));
    return out;
  }
  // Odometer over the outer dims 0..d-1.
  const idx = new Array<number>(d).fill(0);
  let offset = base;
  for (let o = 0; o < n; o += run) {
    dst.set(src.subarray(offset, offset + run), o);
    for (let i = d - 1; i >= 0; i--) {
      idx[i]++;
      offset += stride(i);
      if (idx[i] < size[i]) break;
      offset -= size[i] * stride(i);
      idx[i] = 0;
    }
  }
  return out;
}

export function slice(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype === 'string') return wasmKernel(Slice)(args);
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs?.begin as number | number[], attrs?.size as number | number[]);
  return sliceInfo(backend, x, begin, size);
}

export function splitV(args: Args): TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype === 'string') return wasmKernel(SplitV)(args) as unknown as TensorInfo[];
  const axis = tf.util.parseAxisParam(attrs?.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs?.numOrSizeSplits as number | number[], axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = x.shape.slice();
    size[axis] = s;
    const part = sliceInfo(backend, x, begin, size);
    begin[axis] += s;
    return part;
  });
}

export function unpack(args: Args): TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const x = inputs.value;
  if (x.dtype === 'string') return wasmKernel(Unpack)(args) as unknown as TensorInfo[];
  let axis = Number(attrs?.axis ?? 0);
  if (axis < 0) axis += x.shape.length;
  const outShape = x.shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  const size = x.shape.slice();
  size[axis] = 1;
  const outs: TensorInfo[] = [];
  for (let i = 0; i < x.shape[axis]; i++) {
    begin[axis] = i;
    const part = sliceInfo(backend, x, begin, size);
    outs.push({ dataId: part.dataId, dtype: part.dtype, shape: outShape });
  }
  return outs;
}

/**
 * Identity without the copy: wasm's copies the whole tensor (tfjs calls it for clone(), for every
 * variable a gradient reads, for each tf.grads seed). The output shares the input's data, counted
 * once more, as wasm's own Reshape does; no kernel writes into an input, so the copy bought nothing.
 */
export function identity(args: Args): TensorInfo {
  const { x } = args.inputs;
  if (x.dtype === 'string') return wasmKernel(Identity)(args);
  (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}
