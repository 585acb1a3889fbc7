/**
 * `--backend native` (src/backend/native-kernels.ts, native/*.c): each OpenBLAS kernel against the
 * cpu back end on the convolution configurations and products the wasm kernels are checked on, its
 * fallbacks, gradients through tf.grads, swapping the kernels in and out, the addon's own argument
 * checks (the fused chain-CRF kernels' too: their numerics are tested in crf-chain.test.ts), the pinned
 * kernel set, and no leaks. The addon must be built (npm test builds it where it can): without it these
 * suites report themselves as not run, or fail under CI (test/helpers.ts needs()).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { nativeKernelsRegistered, registerNativeKernels, unregisterNativeKernels } from '../src/backend/native-kernels.js';
import { NATIVE_ADDON_PATH, coretypeFor, loadNativeAddon } from '../src/backend/native/addon.js';
import { nativeTuning } from '../src/backend/native/kernels.js';
import { registerNativeGradients, unregisterNativeGradients } from '../src/backend/native/gradients.js';
import { needs } from './helpers.js';
import { type Shape4, assertProductsMatchCpu, assertSameOnBoth, BATCH_PRODUCTS, CONVS, convInfo, onBoth, rand, runKernel, sizeOf } from './kernel-helpers.js';

const NATIVE = needs('native', 'test/native-kernels.test.ts:');

before(async () => {
  if (NATIVE.skip) return; // every suite below is skipped
  tf.env().set('IS_TEST', true);
  const b = await selectBackend('native');
  assert.equal(b.name, 'native');
});

const convAttrs = (s: unknown, pad: unknown) => ({ strides: s, pad, dataFormat: 'NHWC', dilations: 1 });

/**
 * f with tfjs's per-kernel leak check off when `off`: under tf.grads a fused op with the linear
 * activation trips it on the wasm back end as shipped too (4 data ids), though nothing leaks (tensor and
 * data-id counts stay constant over repeated gradients; the no-leaks suite checks the fused layers).
 */
async function withoutLeakCheck<T>(off: boolean, f: () => Promise<T>): Promise<T> {
  if (!off) return f();
  tf.env().set('IS_TEST', false);
  try {
    return await f();
  } finally {
    tf.env().set('IS_TEST', true);
  }
}

describe('convolutions', NATIVE, () => {
  for (const dnnl of [true, false]) {
    it(`Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter match cpu on every configuration (strides, paddings, odd sizes, 1x1, one channel in), ${dnnl ? 'oneDNN' : 'im2col + sgemm'}`, async () => {
      nativeTuning.dnnl = dnnl;
      try {
        await convsMatchCpu();
      } finally {
        nativeTuning.dnnl = true;
      }
    });
  }

  async function convsMatchCpu(): Promise<void> {
    for (const [xs, f, co, s, pad] of CONVS) {
      const info = convInfo(xs, f, co, s, pad);
      const fs = [f[0], f[1], xs[3], co];
      const [xv, wv, dyv] = [rand(sizeOf(xs)), rand(sizeOf(fs)), rand(sizeOf(info.outShape))];
      const what = `x [${xs}] f [${f}] co ${co} s ${s} pad ${JSON.stringify(pad)}`;
      await assertSameOnBoth(`Conv2D ${what}`, () => runKernel('Conv2D', { x: tf.tensor(xv, xs), filter: tf.tensor(wv, fs) }, convAttrs(s, pad)));
      await assertSameOnBoth(`Conv2DBackpropInput ${what}`, () =>
        runKernel('Conv2DBackpropInput', { dy: tf.tensor(dyv, info.outShape), filter: tf.tensor(wv, fs) }, { ...convAttrs(s, pad), inputShape: xs }),
      );
      await assertSameOnBoth(`Conv2DBackpropFilter ${what}`, () =>
        runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, xs), dy: tf.tensor(dyv, info.outShape) }, { ...convAttrs(s, pad), filterShape: fs }),
      );
    }
  }

  it('im2col: a batch larger than one scratch chunk (rows split across images) matches cpu', async (t) => {
    nativeTuning.dnnl = false;
    t.after(() => {
      nativeTuning.dnnl = true;
    });
    // 1 MB of scratch holds 262,144 floats: 64 images of 24x24 with K = 3*3*16 = 144 need 5.3M.
    const xs: [number, number, number, number] = [64, 24, 24, 16];
    const [xv, wv] = [rand(sizeOf(xs)), rand(3 * 3 * 16 * 8)];
    const [dyv, dy2v] = [rand(64 * 24 * 24 * 8), rand(64 * 12 * 12 * 8)];
    await assertSameOnBoth('Conv2D, chunked', () => runKernel('Conv2D', { x: tf.tensor(xv, xs), filter: tf.tensor(wv, [3, 3, 16, 8]) }, convAttrs(1, 'same')));
    await assertSameOnBoth('Conv2DBackpropFilter, chunked', () =>
      runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, xs), dy: tf.tensor(dyv, [64, 24, 24, 8]) }, { ...convAttrs(1, 'same'), filterShape: [3, 3, 16, 8] }),
    );
    await assertSameOnBoth('Conv2DBackpropInput, strided and chunked', () =>
      runKernel(
        'Conv2DBackpropInput',
        { dy: tf.tensor(dy2v, [64, 12, 12, 8]), filter: tf.tensor(wv, [3, 3, 16, 8]) },
        { ...convAttrs(2, 'same'), inputShape: xs },
      ),
    );
  });

  it('fused conv2d with bias and relu or linear, and its gradients, match cpu; other activations and dilations fall back', async () => {
    for (const [xs, f, co, s, pad] of [...CONVS.slice(0, 8), ...CONVS.filter(([xs, , , s]) => xs[3] === 1 && s === 1)]) {
      const fs: [number, number, number, number] = [f[0], f[1], xs[3], co];
      const [xv, wv, bv] = [rand(sizeOf(xs)), rand(sizeOf(fs)), rand(co)];
      for (const activation of ['relu', 'linear', 'elu'] as const) {
        await withoutLeakCheck(activation === 'linear', () =>
          assertSameOnBoth(`fused conv2d ${activation} x [${xs}] f [${f}] s ${s}`, () => {
            const [x, w, b] = [tf.tensor4d(xv, xs), tf.tensor4d(wv, fs), tf.tensor1d(bv)];
            const loss = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
              tf.sum(tf.square(tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: s, pad: pad as 'same', bias: b, activation })));
            return [loss(x, w, b), ...tf.grads(loss)([x, w, b])];
          }),
        );
      }
    }
    const [xv, wv] = [rand(2 * 9 * 9 * 3), rand(3 * 3 * 3 * 4)];
    await assertSameOnBoth('conv2d with dilations 2 (fallback)', () =>
      tf.conv2d(tf.tensor4d(xv, [2, 9, 9, 3]), tf.tensor4d(wv, [3, 3, 3, 4]), 1, 'same', 'NHWC', 2),
    );
  });

  it('conv2dTranspose (the U-net upsampling) and its gradients match cpu', async () => {
    const [xv, wv] = [rand(2 * 5 * 6 * 8), rand(2 * 2 * 4 * 8)];
    await assertSameOnBoth('conv2dTranspose 2x2 stride 2', () => {
      const loss = (x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [2, 10, 12, 4], 2, 'valid')));
      const [x, w] = [tf.tensor4d(xv, [2, 5, 6, 8]), tf.tensor4d(wv, [2, 2, 4, 8])];
      return [loss(x, w), ...tf.grads(loss)([x, w])];
    });
  });
});

describe('matrix products', NATIVE, () => {
  it('matMul matches cpu with every transpose, for 2-D products and batches (equal, broadcast a or b, rank 4)', () =>
    assertProductsMatchCpu([
      [
        [1, 5],
        [5, 7],
      ],
      [
        [5, 1],
        [1, 7],
      ],
      [
        [17, 9],
        [9, 13],
      ],
      [
        [50, 40],
        [40, 8],
      ],
      ...BATCH_PRODUCTS,
    ]));

  it('fused matMul with bias and relu or linear, and its gradients, match cpu; a per-row bias and other activations fall back', async () => {
    const [av, bv, biasv] = [rand(6 * 5), rand(5 * 4), rand(4)];
    for (const activation of ['relu', 'linear', 'sigmoid'] as const) {
      // (Only untransposed for the fallback: wasm's own _FusedMatMul adds the bias wrongly when both operands are transposed.)
      for (const [tA, tB] of activation === 'sigmoid'
        ? [[false, false]]
        : [
            [false, false],
            [true, false],
            [true, true],
          ]) {
        await withoutLeakCheck(activation === 'linear', () =>
          assertSameOnBoth(`fused matMul ${activation} tA ${tA} tB ${tB}`, () => {
            const a = tf.tensor2d(av, tA ? [5, 6] : [6, 5]);
            const b = tf.tensor2d(bv, tB ? [4, 5] : [5, 4]);
            const bias = tf.tensor1d(biasv);
            const loss = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) =>
              tf.sum(tf.square(tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: tA, transposeB: tB, bias, activation })));
            return [loss(a, b, bias), ...tf.grads(loss)([a, b, bias])];
          }),
        );
      }
    }
    // A [1, 4] bias is per column; a [4, 1] one (the same size when M = N) is per row: it falls back.
    const [a4, b4, bias4] = [rand(4 * 5), rand(5 * 4), rand(4)];
    await assertSameOnBoth('fused matMul with a [1, 4] bias', () =>
      tf.fused.matMul({ a: tf.tensor2d(a4, [4, 5]), b: tf.tensor2d(b4, [5, 4]), bias: tf.tensor2d(bias4, [1, 4]), activation: 'relu' }),
    );
    assert.throws(
      () => tf.fused.matMul({ a: tf.tensor2d(a4, [4, 5]), b: tf.tensor2d(b4, [5, 4]), bias: tf.tensor2d(bias4, [4, 1]) }),
      /_FusedMatMul only supports rank-1 bias/,
      "a per-row bias goes to wasm's kernel, which refuses it",
    );
  });
});

describe('reductions and copies', NATIVE, () => {
  it("Sum matches cpu over leading axes (the bias gradients; keepDims too) and over the others (wasm's)", async () => {
    const xs = [2, 5, 4, 3];
    const xv = rand(sizeOf(xs));
    for (const axis of [0, [0, 1], [0, 1, 2], [1, 0], 1, [2, 3], 3, [0, 2], [0, 1, 2, 3]]) {
      for (const keepDims of [false, true]) {
        await assertSameOnBoth(`sum axis ${JSON.stringify(axis)} keepDims ${keepDims}`, () => tf.sum(tf.tensor(xv, xs), axis, keepDims));
      }
    }
  });

  it("Multiply matches cpu: a single value broadcast on either side (C), and every other product (wasm's)", async () => {
    const [xv, yv] = [rand(24), rand(24)];
    const cases: [number[], number[]][] = [
      [[2, 3, 4], [1]],
      [
        [1, 1, 1],
        [2, 3, 4],
      ],
      [[2, 3, 4], []],
      [[4], [1, 1]],
      [
        [2, 3, 4],
        [2, 3, 4],
      ],
      [[2, 3, 4], [4]],
      [[1], [1]],
    ];
    for (const [sa, sb] of cases) {
      await assertSameOnBoth(`[${sa}] * [${sb}]`, () => tf.mul(tf.tensor(xv.subarray(0, sizeOf(sa)), sa), tf.tensor(yv.subarray(0, sizeOf(sb)), sb)));
    }
    await assertSameOnBoth('int32 * int32 scalar', () => tf.mul(tf.tensor1d([1, 2, 3], 'int32'), tf.scalar(3, 'int32')));
  });

  it('Concat and SplitV match cpu along every axis, for 2 and 3 parts of unequal sizes; int32 falls back', async () => {
    const whole = [2, 3, 4];
    const wv = rand(sizeOf(whole));
    for (const axis of [0, 1, 2, -1]) {
      const ax = (axis + 3) % 3;
      const parts = [2, 1, 3].map((d) => whole.map((w, i) => (i === ax ? d : w)));
      const pv = parts.map((sh) => rand(sizeOf(sh)));
      await assertSameOnBoth(`concat axis ${axis}`, () =>
        tf.concat(
          parts.map((sh, i) => tf.tensor(pv[i], sh)),
          axis,
        ),
      );
      await assertSameOnBoth(`concat of 2, axis ${axis}`, () =>
        tf.concat(
          parts.slice(0, 2).map((sh, i) => tf.tensor(pv[i], sh)),
          axis,
        ),
      );
      const n = whole[ax];
      await assertSameOnBoth(`split axis ${axis}`, () => tf.split(tf.tensor(wv, whole), [1, n - 1], axis));
      await assertSameOnBoth(`split into equal parts, axis ${axis}`, () => tf.split(tf.tensor(wv, whole), n === 3 ? 3 : 2, axis));
    }
    await assertSameOnBoth('int32 concat', () => tf.concat([tf.tensor2d([[1, 2]], [1, 2], 'int32'), tf.tensor2d([[3]], [1, 1], 'int32')], 1));
  });
});

describe('transpose', NATIVE, () => {
  it('Transpose matches cpu to the bit: ranks 1 to 6, size-1 and mergeable axes, tiles with ragged edges, the LSTM layouts; int32 falls back', async () => {
    const cases: [number[], number[]][] = [
      [[5], [0]],
      [
        [3, 4],
        [1, 0],
      ],
      [
        [70, 33],
        [1, 0],
      ],
      [
        [8, 480, 100],
        [0, 2, 1],
      ],
      [
        [16, 30, 75],
        [1, 0, 2],
      ],
      [
        [30, 200, 16],
        [2, 0, 1],
      ],
      [
        [2, 1, 3, 4],
        [3, 1, 0, 2],
      ],
      [
        [2, 3, 4, 5],
        [0, 1, 3, 2],
      ],
      [
        [2, 3, 4, 5],
        [2, 3, 0, 1],
      ],
      [
        [3, 1, 2, 1, 4, 2],
        [5, 4, 3, 2, 1, 0],
      ],
      [
        [1, 1, 7],
        [2, 0, 1],
      ],
    ];
    for (const [shape, perm] of cases) {
      const xv = rand(sizeOf(shape));
      await assertSameOnBoth(`transpose [${shape}] by [${perm}]`, () => tf.transpose(tf.tensor(xv, shape), perm), 0);
    }
    await assertSameOnBoth('int32 transpose', () => tf.transpose(tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'), [1, 0]), 0);
  });

  it('the addon refuses a perm that is not a permutation of the axes', () => {
    const loaded = loadNativeAddon();
    assert.ok('addon' in loaded);
    const x = new Float32Array(6);
    assert.throws(() => loaded.addon.transpose(x, Int32Array.of(2, 3), Int32Array.of(0, 0), new Float32Array(6)), /a permutation of the axes/);
    assert.throws(() => loaded.addon.transpose(x, Int32Array.of(2, 3), Int32Array.of(1, 2), new Float32Array(6)), /a permutation of the axes/);
    assert.throws(() => loaded.addon.transpose(x, Int32Array.of(2, 3), Int32Array.of(1, 0), new Float32Array(5)), /transpose out has 5 elements, needs 6/);
  });
});

describe('MaxPoolGrad', NATIVE, () => {
  it('2x2 stride 2 (C) matches cpu: odd sizes, ties, all negative, NaN and -Infinity, same on even sizes; other pools fall back', async () => {
    const data: Record<string, (n: number) => Float32Array> = {
      random: (n) => rand(n),
      'all negative': (n) => rand(n, -5, -0.5),
      'ties (small integers)': (n) => rand(n, -2.5, 2.5).map(Math.round),
      'all equal negative': (n) => new Float32Array(n).fill(-1),
      'NaN and -Infinity': (n) => {
        const v = rand(n, -3, -1);
        for (let i = 0; i < n; i += 7) v[i] = NaN;
        for (let i = 3; i < n; i += 11) v[i] = -Infinity;
        return v.fill(-Infinity, 0, 8);
      },
    };
    const cases: [Shape4, number, number, 'same' | 'valid'][] = [
      [[2, 7, 5, 3], 2, 2, 'valid'],
      [[3, 8, 8, 20], 2, 2, 'valid'],
      [[2, 8, 6, 4], 2, 2, 'same'],
      [[2, 7, 5, 3], 3, 2, 'same'],
      [[1, 6, 6, 2], 2, 1, 'valid'],
    ];
    for (const [xs, f, s, pad] of cases)
      for (const [name, gen] of Object.entries(data)) {
        const xv = gen(sizeOf(xs));
        const yShape = tf.backend_util.computePool2DInfo(xs, f, s, 1, pad).outShape;
        const dyv = rand(sizeOf(yShape));
        await assertSameOnBoth(
          `[${xs}] f ${f} s ${s} ${pad} ${name}`,
          () => {
            const x = tf.tensor(xv, xs);
            return runKernel(
              'MaxPoolGrad',
              { dy: tf.tensor(dyv, yShape), input: x, output: tf.maxPool(x as tf.Tensor4D, f, s, pad) },
              { filterSize: f, strides: s, pad },
            );
          },
          // the C path copies each dy once: exact; overlapping windows (the fallback) sum in another order.
          f === 2 && s === 2 ? 0 : 1e-5,
        );
      }
  });

  it('the addon refuses windows that do not fit and short arrays', () => {
    const loaded = loadNativeAddon();
    assert.ok('addon' in loaded);
    const x = new Float32Array(16);
    assert.throws(() => loaded.addon.maxPool2x2Grad(x, new Float32Array(9), Int32Array.of(1, 4, 4, 1, 3, 3), x), /needs 2 Ho <= H/);
    assert.throws(() => loaded.addon.maxPool2x2Grad(x, new Float32Array(3), Int32Array.of(1, 4, 4, 1, 2, 2), x), /maxPool2x2Grad dy has 3 elements, needs 4/);
  });
});

describe('MaxPool', NATIVE, () => {
  it('2x2 stride 2 (C) equals cpu to the bit: odd sizes, ties, all negative, NaN and -Infinity; other pools fall back (NaN aside)', async () => {
    const cases: [Shape4, number, number, 'same' | 'valid'][] = [
      [[2, 7, 5, 3], 2, 2, 'valid'],
      [[3, 8, 8, 20], 2, 2, 'valid'],
      [[2, 16, 8, 9], 2, 2, 'valid'],
      [[2, 8, 6, 4], 2, 2, 'same'],
      [[2, 7, 5, 3], 3, 2, 'same'],
      [[1, 6, 6, 2], 2, 1, 'valid'],
    ];
    for (const [xs, f, s, pad] of cases) {
      const n = sizeOf(xs);
      const nanAndInf = rand(n, -3, -1);
      for (let i = 0; i < n; i += 7) nanAndInf[i] = NaN;
      for (let i = 3; i < n; i += 11) nanAndInf[i] = -Infinity;
      nanAndInf.fill(NaN, 0, 4).fill(-Infinity, 4, 12);
      const data: Record<string, Float32Array> = {
        random: rand(n),
        'all negative': rand(n, -5, -0.5),
        'ties and signed zeros': rand(n, -2.5, 2.5).map((v) => Math.round(v) || (v < 0 ? -0 : 0)),
        'NaN and -Infinity': nanAndInf,
      };
      for (const [name, xv] of Object.entries(data)) {
        // Other pools fall back to wasm's (XNNPACK's) kernel, whose rules for NaN and for a tie of 0 and -0 are not cpu's.
        const own = f === 2 && s === 2 && pad === 'valid';
        if (name === 'NaN and -Infinity' && !own) continue;
        const same = own ? Object.is : (a: number, b: number) => a === b;
        const r = await onBoth(() => tf.maxPool(tf.tensor(xv, xs) as tf.Tensor4D, f, s, pad));
        assert.deepEqual(r.shapes.wasm, r.shapes.cpu);
        r.cpu[0].forEach((e, i) => assert.ok(same(r.wasm[0][i], e), `[${xs}] f ${f} s ${s} ${pad} ${name}: element ${i} is ${r.wasm[0][i]}, cpu ${e}`));
      }
    }
  });

  it('the addon refuses windows that do not fit and short arrays', () => {
    const loaded = loadNativeAddon();
    assert.ok('addon' in loaded);
    const x = new Float32Array(16);
    assert.throws(() => loaded.addon.maxPool2x2(x, Int32Array.of(1, 4, 4, 1, 3, 3), new Float32Array(9)), /needs 2 Ho <= H/);
    assert.throws(() => loaded.addon.maxPool2x2(x, Int32Array.of(1, 4, 4, 1, 2, 2), new Float32Array(3)), /maxPool2x2 y has 3 elements, needs 4/);
    assert.throws(() => loaded.addon.maxPool2x2(x, Int32Array.of(1, 4, 4, 1, -2, 2), new Float32Array(3)), /must be non-negative/);
  });
});

describe('SpsSquaredNorm (clipping)', NATIVE, () => {
  it('Σ x² over any number of tensors equals the float64 sum to float32 rounding: empty and single elements, every length mod 8, large and tiny values', () => {
    const inputs = [
      new Float32Array(0),
      Float32Array.of(-3),
      ...Array.from({ length: 9 }, (_, i) => rand(8 + i, -2, 2)),
      rand(250_000, -1e-3, 1e-3),
      rand(1000, -1e15, 1e15),
      rand(50, -1e-20, 1e-20),
    ];
    for (const parts of [inputs, inputs.slice(1, 2), inputs.slice(-3), [inputs[0]]]) {
      let expected = 0;
      for (const v of parts) for (const x of v) expected += Math.fround(x * x);
      const got = tf.tidy(() => runKernel('SpsSquaredNorm', Object.fromEntries(parts.map((v, i) => [String(i), tf.tensor(v)])), {}).dataSync());
      assert.equal(got.length, 1);
      assert.equal(got[0], Math.fround(expected), `${parts.length} tensors`);
    }
  });

  it('the addon refuses what is not a Float32Array', () => {
    const loaded = loadNativeAddon();
    assert.ok('addon' in loaded);
    assert.throws(() => loaded.addon.sumSquares(new Float64Array(3) as unknown as Float32Array));
    assert.equal(loaded.addon.sumSquares(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9)), 285);
  });
});

describe('dropout: the Alea kernel', NATIVE, () => {
  it("tf.randomUniform's stream and tf.dropout's values and gradient, to the bit, for any seed and shape; without the kernel tf.dropout itself", async () => {
    const { aleaState, dropout } = await import('../src/models/dropout.js');
    assert.ok(tf.getKernel('SpsAleaUniform', tf.getBackend()), 'the native back end registers the kernel');
    const cases: [number[], number, number][] = [
      [[1], 0.5, 0],
      [[7, 3], 0.25, 1],
      [[64, 400], 0.5, 12345],
      [[3, 5, 11], 0.1, 4294967295],
      [[2000, 50], 0.5, 987654321],
    ];
    for (const [shape, rate, seed] of cases) {
      const ours = tf.engine().runKernel('SpsAleaUniform', {}, { state: aleaState(seed), shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const theirs = tf.randomUniform(shape, 0, 1, 'float32', seed);
      assert.deepEqual(ours.dataSync(), theirs.dataSync(), `uniform ${shape} seed ${seed}`);
      const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
      const f = (t: tf.Tensor) => tf.sum(tf.mul(dropout(t, rate, seed), t));
      const g = (t: tf.Tensor) => tf.sum(tf.mul(tf.dropout(t, rate, undefined, seed), t));
      assert.deepEqual(dropout(x, rate, seed).dataSync(), tf.dropout(x, rate, undefined, seed).dataSync(), `dropout ${shape} seed ${seed}`);
      assert.deepEqual(tf.grad(f)(x).dataSync(), tf.grad(g)(x).dataSync(), `gradient ${shape} seed ${seed}`);
      tf.dispose([ours, theirs, x]);
    }
    // A different seed gives a different mask: the comparison above is not between two constants.
    const a = dropout(tf.ones([200]), 0.5, 1).dataSync();
    const b = dropout(tf.ones([200]), 0.5, 2).dataSync();
    assert.notDeepEqual(a, b);
  });
});

describe('tile and the broadcast gradients', NATIVE, () => {
  it('Tile matches cpu for ranks 1 to 5 and scalar-to-matrix broadcasts (C); int32 and a zero repeat fall back', async () => {
    const cases: [number[], number[]][] = [
      [[3], [4]],
      [[1], [7]],
      [
        [2, 1, 3],
        [1, 5, 2],
      ],
      [
        [1, 1],
        [16, 16],
      ],
      [
        [2, 3, 4, 5],
        [2, 1, 3, 1],
      ],
      [
        [2, 1, 2, 1, 3],
        [1, 3, 1, 2, 2],
      ],
      [
        [4, 3],
        [1, 1],
      ],
    ];
    for (const [shape, reps] of cases) {
      const xv = rand(sizeOf(shape));
      await assertSameOnBoth(`tile [${shape}] by [${reps}]`, () => tf.tile(tf.tensor(xv, shape), reps), 0);
    }
    const bv = rand(4);
    await assertSameOnBoth('broadcastTo [1, 4, 1] to [3, 4, 5]', () => tf.broadcastTo(tf.tensor(bv, [1, 4, 1]), [3, 4, 5]), 0);
    await assertSameOnBoth('int32 tile', () => tf.tile(tf.tensor2d([[1, 2]], [1, 2], 'int32'), [3, 2]));
    await assertSameOnBoth('tile by 0', () => tf.tile(tf.tensor(rand(6), [2, 3]), [0, 2]));
  });

  /** The gradient of Σ w·reduce(x) (so that dy is not constant) and the kernels it ran. */
  async function reduceGrad(op: 'sum' | 'mean', xv: Float32Array, xs: number[], axis: number | number[] | undefined, keepDims: boolean) {
    const x = tf.tensor(xv, xs);
    const outShape = tf.tidy(() => tf[op](x, axis, keepDims).shape);
    const w = tf.tensor(xv.subarray(0, sizeOf(outShape)), outShape);
    let g: tf.Tensor | undefined;
    const prof = await tf.profile(() => {
      g = tf.keep(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf[op](t, axis, keepDims), w)))(x));
    });
    const values = g!.dataSync().slice() as Float32Array;
    tf.dispose([x, w, g!]);
    return { values, kernels: prof.kernelNames };
  }

  it("the gradients of sum and mean broadcast dy by Tile and equal tfjs's own (dy·1, built with ones) to the bit", async () => {
    const xs = [2, 5, 4, 3];
    const xv = rand(sizeOf(xs));
    for (const op of ['sum', 'mean'] as const) {
      for (const axis of [undefined, 0, [0, 1], 1, [1, 3], -1, [0, 1, 2, 3]]) {
        for (const keepDims of [false, true]) {
          const what = `${op} axis ${JSON.stringify(axis)} keepDims ${keepDims}`;
          const ours = await reduceGrad(op, xv, xs, axis, keepDims);
          assert.ok(ours.kernels.includes('Tile'), `${what}: ${ours.kernels}`);
          unregisterNativeGradients();
          try {
            const tfjs = await reduceGrad(op, xv, xs, axis, keepDims);
            assert.ok(!tfjs.kernels.includes('Tile'), `${what}: tfjs's gradient is back`);
            assert.deepEqual(ours.values, tfjs.values, what);
          } finally {
            registerNativeGradients();
          }
        }
      }
    }
  });
});

describe('registration', NATIVE, () => {
  it('selectBackend says native and the OpenBLAS core; wasm afterwards restores the wasm kernels, native again swaps them back in', async () => {
    assert.ok(nativeKernelsRegistered());
    const nativeConv = tf.getKernel('Conv2D', 'wasm')!.kernelFunc;
    const w = await selectBackend('wasm');
    assert.equal(w.name, 'wasm');
    assert.ok(!nativeKernelsRegistered());
    assert.notEqual(tf.getKernel('Conv2D', 'wasm')!.kernelFunc, nativeConv);
    const b = await selectBackend('native');
    assert.match(b.reason, /native kernels registered \(23, OpenBLAS core \w+\)/);
    assert.ok(nativeKernelsRegistered());
    assert.equal(registerNativeKernels().registered.length, 23, 'idempotent');
    unregisterNativeKernels();
    unregisterNativeKernels();
    assert.ok(!nativeKernelsRegistered());
    await selectBackend('native');
  });

  it('pins OpenBLAS kernels by instruction set, and the pin is the core in use', () => {
    assert.equal(coretypeFor(new Set(['avx2', 'fma', 'avx512f', 'avx512dq', 'avx512bw', 'avx512vl'])), 'SkylakeX');
    assert.equal(coretypeFor(new Set(['avx2', 'fma', 'avx512f'])), 'Haswell');
    assert.equal(coretypeFor(new Set(['sse4_2'])), undefined);
    const loaded = loadNativeAddon();
    assert.ok('addon' in loaded, 'the addon is built');
    if (process.env.OPENBLAS_CORETYPE) assert.equal(loaded.corename.toLowerCase(), process.env.OPENBLAS_CORETYPE.toLowerCase());
  });

  it('the addon refuses arrays smaller than its dimensions, and non-Float32Arrays, with a message', () => {
    const loaded = loadNativeAddon();
    assert.ok('addon' in loaded);
    const { addon } = loaded;
    const dims = Int32Array.of(1, 4, 4, 4, 0, 0, 0, 0);
    assert.throws(() => addon.gemm(dims, new Float32Array(16), new Float32Array(15), new Float32Array(16), null, 0), /gemm b has 15 elements, needs 16/);
    assert.throws(
      () => addon.gemm(dims, new Float64Array(16) as unknown as Float32Array, new Float32Array(16), new Float32Array(16), null, 0),
      /expected a Float32Array/,
    );
    const conv = Int32Array.of(1, 4, 4, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1);
    assert.throws(() => addon.conv2d(conv, new Float32Array(16), new Float32Array(9), new Float32Array(15), null, 0), /conv y has 15 elements, needs 16/);
    assert.throws(
      () => addon.conv2d(Int32Array.of(1, 4), new Float32Array(16), new Float32Array(9), new Float32Array(16), null, 0),
      /conv dims has 2 elements, needs 13/,
    );
    // The chain kernels read labels as indices: out-of-range ones are refused, not followed.
    const [B, T, K] = [2, 3, 4];
    const crf = (labels: Int32Array, lengths = Int32Array.of(3, 2), gU = new Float32Array(B * T * K), objective = 1) =>
      addon.chainCrf(
        Int32Array.of(B, T, K, objective, 0),
        new Float32Array(B * T * K),
        new Float32Array(K * K),
        lengths,
        labels,
        null,
        null,
        new Float32Array(B),
        gU,
        new Float32Array(B * K * K),
      );
    assert.equal(crf(Int32Array.of(0, 1, 2, 3, 3, 9)), 0, 'a label beyond a length is not read');
    assert.throws(() => crf(Int32Array.of(0, 4, 2, 0, 0, 0)), /labels\[0\]\[1\] is outside \[0, K\)/);
    assert.throws(() => crf(Int32Array.of(0, 0, 0, -1, 0, 0)), /labels\[1\]\[0\] is outside \[0, K\)/);
    assert.throws(() => crf(new Int32Array(6), Int32Array.of(3, 4)), /a length is outside \[1, T\]/);
    assert.throws(() => crf(new Int32Array(6), Int32Array.of(3, 0)), /a length is outside \[1, T\]/);
    assert.throws(() => crf(new Int32Array(6), Int32Array.of(3, 2), new Float32Array(B * T * K - 1)), /chainCrf gU has 23 elements, needs 24/);
    assert.throws(() => crf(new Int32Array(6), Int32Array.of(3, 2), undefined, 7), /the objective a known code/);
    assert.throws(
      () =>
        addon.chainViterbi(
          Int32Array.of(B, T, K),
          new Float32Array(B * T * K),
          new Float32Array(K * K),
          Int32Array.of(3, 2),
          null,
          Int32Array.of(0, 0, 5, 0, 0, 0),
          new Int32Array(B * T),
        ),
      /gold\[0\]\[2\] is outside/,
    );
  });

  it('a missing addon is an error that names the build script', async () => {
    const { spawnSync } = await import('node:child_process');
    const code = `import('${new URL('../src/backend/select.ts', import.meta.url).href}').then((m) => m.selectBackend('native')).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(3); })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      encoding: 'utf8',
      env: { ...process.env, SPS_BLAS_ADDON: '/nonexistent/sps_blas.node' },
    });
    assert.equal(r.status, 3, r.stderr);
    assert.match(
      r.stderr,
      /backend 'native' is not available: sps's native addon is not built \(\/nonexistent\/sps_blas.node is missing\): build it with `bash scripts\/build-native.sh`/,
    );
    assert.ok(NATIVE_ADDON_PATH.endsWith('native/build/sps_blas.node'));
  });
});

describe('no leaks', NATIVE, () => {
  it('20 Adam steps of a small conv net with fused layers keep tensors and data ids constant', () => {
    const w1 = tf.variable(tf.tensor4d(rand(3 * 3 * 2 * 4, -0.3, 0.3), [3, 3, 2, 4]));
    const b1 = tf.variable(tf.zeros([4]));
    const w2 = tf.variable(tf.tensor2d(rand(4 * 4 * 4 * 3, -0.3, 0.3), [64, 3]));
    const x = tf.tensor4d(rand(5 * 8 * 8 * 2), [5, 8, 8, 2]);
    const opt = tf.train.adam(1e-2);
    const step = () =>
      opt.minimize(() => {
        const h = tf.fused.conv2d({ x, filter: w1, strides: 2, pad: 'same', bias: b1, activation: 'relu' });
        return tf.sum(tf.square(tf.matMul(tf.reshape(h, [5, 64]), w2)));
      }, false);
    step();
    const before = tf.memory().numTensors;
    const ids = (tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds();
    for (let i = 0; i < 20; i++) step();
    assert.equal(tf.memory().numTensors, before);
    assert.equal((tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds(), ids);
    tf.dispose([w1, b1, w2, x]);
    opt.dispose();
  });
});
