/**
 * Shared by the kernel suites (wasm-kernels, native-kernels): deterministic inputs, the same op run on
 * the cpu back end and on tfjs's wasm back end with whatever kernels the suite registered there, and
 * the convolution configurations every convolution kernel is checked on.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

export type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
export type Shape4 = [number, number, number, number];

let seed = 12345;
/** Deterministic uniform values in [lo, hi). */
export function rand(n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 16807) % 2147483647;
    out[i] = lo + ((hi - lo) * seed) / 2147483647;
  }
  return out;
}
export const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Run f on the cpu back end and on wasm, with the same inputs (f builds them from JS arrays). */
export async function onBoth(
  f: () => tf.Tensor | tf.Tensor[],
): Promise<{ cpu: tf.TypedArray[]; wasm: tf.TypedArray[]; shapes: { cpu: number[][]; wasm: number[][] } }> {
  const values: Record<string, tf.TypedArray[]> = {};
  const shapes: Record<string, number[][]> = {};
  for (const name of ['cpu', 'wasm']) {
    assert.ok(await tf.setBackend(name));
    const outs = tf.tidy(() => [f()].flat());
    values[name] = outs.map((t) => t.dataSync());
    shapes[name] = outs.map((t) => t.shape);
    tf.dispose(outs);
  }
  assert.ok(await tf.setBackend('wasm'));
  return { cpu: values.cpu, wasm: values.wasm, shapes: { cpu: shapes.cpu, wasm: shapes.wasm } };
}

/** max |a - e| / max |e| (NaN only where e is NaN). */
export function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  assert.equal(a.length, e.length, 'lengths differ');
  let d = 0;
  let m = 0;
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i])) {
      assert.ok(Number.isNaN(a[i]), `element ${i}: expected NaN, got ${a[i]}`);
      continue;
    }
    d = Math.max(d, Math.abs(a[i] - e[i]));
    m = Math.max(m, Math.abs(e[i]));
  }
  return m === 0 ? d : d / m;
}

export async function assertSameOnBoth(what: string, f: () => tf.Tensor | tf.Tensor[], tol = 1e-5): Promise<void> {
  const r = await onBoth(f);
  assert.deepEqual(r.shapes.wasm, r.shapes.cpu, `${what}: shapes`);
  r.cpu.forEach((e, i) => {
    const err = relErr(r.wasm[i], e);
    assert.ok(err <= tol, `${what}: output ${i} relative error ${err.toExponential(2)} > ${tol}`);
  });
}

export function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
}

/** Convolution configurations: x shape, filter [fh, fw], co, strides, pad. */
export const CONVS: [Shape4, [number, number], number, number | [number, number], Pad][] = [
  [[1, 5, 5, 1], [3, 3], 1, 1, 'same'],
  [[2, 7, 5, 3], [3, 3], 4, 1, 'same'],
  [[2, 7, 5, 3], [3, 3], 4, 1, 'valid'],
  [[3, 8, 8, 2], [5, 5], 3, 1, 'same'],
  [[2, 6, 9, 3], [5, 3], 2, 1, 'valid'],
  [[2, 7, 5, 3], [1, 1], 4, 1, 'valid'],
  [[1, 6, 6, 4], [2, 2], 5, 1, 'same'],
  [[2, 8, 8, 3], [3, 3], 4, 2, 'same'],
  [[2, 7, 5, 3], [3, 3], 4, 2, 'same'],
  [[2, 7, 5, 3], [3, 3], 4, 2, 'valid'],
  [[2, 9, 8, 2], [2, 2], 3, 2, 'valid'],
  [[2, 8, 8, 3], [2, 2], 4, 2, 'valid'],
  [[1, 8, 8, 1], [4, 4], 2, 2, 'same'],
  [[2, 9, 7, 3], [5, 3], 4, 2, 'valid'],
  [[2, 10, 9, 3], [3, 3], 2, [2, 3], 'same'],
  [[1, 9, 7, 2], [3, 3], 3, 3, 'valid'],
  [[2, 7, 6, 3], [3, 3], 4, 1, 1],
  [
    [2, 7, 6, 3],
    [3, 2],
    4,
    2,
    [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  ],
  [
    [2, 6, 6, 2],
    [2, 2],
    3,
    1,
    [
      [0, 0],
      [3, 0],
      [1, 2],
      [0, 0],
    ],
  ],
  [[3, 16, 8, 1], [5, 5], 4, 1, 'same'],
  [[2, 12, 12, 5], [3, 3], 6, 1, 'same'],
  // single-channel inputs at stride 1: LeNet's first layer, valid, and padding wider than the filter on one side
  [[2, 16, 8, 1], [5, 5], 20, 1, 'same'],
  [[2, 9, 7, 1], [3, 2], 17, 1, 'valid'],
  [
    [2, 6, 5, 1],
    [3, 3],
    9,
    1,
    [
      [0, 0],
      [2, 0],
      [1, 4],
      [0, 0],
    ],
  ],
];

export function convInfo(xs: Shape4, f: [number, number], co: number, s: number | [number, number], pad: Pad): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(xs, [f[0], f[1], xs[3], co], s, 1, pad);
}

/** Batched products both matMul kernels are checked on: equal batches, a broadcast b, a broadcast a, rank 4, outer ranks that differ. */
export const BATCH_PRODUCTS: [number[], number[]][] = [
  [
    [2, 3, 4],
    [2, 4, 5],
  ],
  [
    [3, 4, 5],
    [1, 5, 6],
  ],
  [
    [3, 4, 5],
    [5, 6],
  ],
  [
    [1, 4, 5],
    [3, 5, 6],
  ],
  [
    [2, 3, 4, 5],
    [2, 3, 5, 2],
  ],
  [
    [4, 1, 6],
    [4, 6, 1],
  ],
  [
    [1, 1, 4, 5],
    [3, 5, 6],
  ],
];

/** tf.matMul of each [a shape, b shape] with every transpose combination, on cpu and on wasm, compared. */
export async function assertProductsMatchCpu(cases: [number[], number[]][]): Promise<void> {
  const swapLast = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
  for (const [as, bs] of cases) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        const sa = tA ? swapLast(as) : as;
        const sb = tB ? swapLast(bs) : bs;
        const av = rand(sizeOf(sa));
        const bv = rand(sizeOf(sb));
        await assertSameOnBoth(`[${sa}] x [${sb}] tA ${tA} tB ${tB}`, () => tf.matMul(tf.tensor(av, sa), tf.tensor(bv, sb), tA, tB));
      }
    }
  }
}
