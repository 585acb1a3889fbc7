/**
 * sps's wasm training kernels (src/backend/wasm-kernels.ts): each against the cpu back end (the same
 * op computed on both, read back, compared to 1e-5 relative error), gradients through tf.grads, the
 * version pin, idempotent registration, and no leaks over training steps.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../src/backend/select.js';
import { checkTfjsVersions, registerWasmTrainingKernels, unregisterWasmTrainingKernels, WASM_KERNELS_TFJS_VERSION } from '../src/backend/wasm-kernels.js';
import { convTuning } from '../src/backend/wasm/conv.js';
import { matMulTuning } from '../src/backend/wasm/matmul.js';
import { assertProductsMatchCpu, assertSameOnBoth, BATCH_PRODUCTS, CONVS, convInfo, rand, relErr, runKernel, type Shape4, sizeOf } from './kernel-helpers.js';

before(async () => {
  // IS_TEST makes the engine check every kernel for leaked data ids.
  tf.env().set('IS_TEST', true);
  assert.ok(await tf.setBackend('wasm'));
  registerWasmTrainingKernels();
});

describe('version pin and registration', () => {
  it('accepts only tfjs-core and tfjs-backend-wasm 4.22.0', () => {
    assert.equal(WASM_KERNELS_TFJS_VERSION, '4.22.0');
    assert.equal(tf.version_core, '4.22.0');
    checkTfjsVersions({ core: '4.22.0', wasm: '4.22.0' });
    assert.throws(
      () => checkTfjsVersions({ core: '4.21.0', wasm: '4.22.0' }),
      /^Error: sps's wasm kernels are written for tfjs 4\.22\.0; found @tensorflow\/tfjs-core 4\.21\.0: pin @tensorflow\/tfjs\* to 4\.22\.0 or use --backend cpu$/,
    );
    assert.throws(() => checkTfjsVersions({ core: '4.22.0', wasm: '5.0.0-rc.1' }), /found @tensorflow\/tfjs-backend-wasm 5\.0\.0-rc\.1: pin/);
  });

  it('is idempotent, and the shipped kernels can be put back', () => {
    const first = registerWasmTrainingKernels();
    const ours = tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc;
    const again = registerWasmTrainingKernels();
    assert.deepEqual(again, first);
    assert.equal(tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc, ours);
    assert.deepEqual(first.registered, [
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'BatchMatMul',
      'UnsortedSegmentSum',
      'GatherV2',
      'MaxPoolGrad',
      'ResizeBilinearGrad',
      'ResizeNearestNeighborGrad',
      'Slice',
      'SplitV',
      'Unpack',
      'Identity',
    ]);
    unregisterWasmTrainingKernels();
    unregisterWasmTrainingKernels();
    try {
      assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
      assert.notEqual(tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc, ours);
      // The shipped MaxPoolGrad's silent bug, which ours fixes: windows with a negative maximum get nothing.
      const x = tf.neg(tf.add(tf.abs(tf.tensor(rand(2 * 8 * 8 * 3), [2, 8, 8, 3])), 0.1)) as tf.Tensor4D;
      const shipped = tf
        .grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x)
        .sum()
        .dataSync()[0];
      assert.ok(shipped < 2 * 4 * 4 * 3, `shipped MaxPoolGrad gave ${shipped}`);
    } finally {
      registerWasmTrainingKernels();
    }
    assert.equal(tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc, ours);
    const x = tf.neg(tf.add(tf.abs(tf.tensor(rand(2 * 8 * 8 * 3), [2, 8, 8, 3])), 0.1)) as tf.Tensor4D;
    assert.equal(
      tf
        .grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x)
        .sum()
        .dataSync()[0],
      2 * 4 * 4 * 3,
    );
  });

  it('selectBackend registers them when it picks wasm and says so', async () => {
    const b = await selectBackend('wasm');
    assert.equal(b.name, 'wasm');
    assert.match(b.reason, /wasm training kernels registered \(12\)/);
    assert.equal(tf.getBackend(), 'wasm');
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  });
});

describe('Conv2DBackpropFilter (missing on wasm)', () => {
  for (const mode of ['auto', 'taps', 'conv'] as const) {
    it(`matches cpu, ${mode}: stride 1, 2 and [2,3]; same, valid, numeric and explicit padding; odd sizes; batch, channels 1 and more`, async () => {
      convTuning.backpropFilter = mode;
      try {
        for (const [xs, f, co, s, pad] of CONVS) {
          const info = convInfo(xs, f, co, s, pad);
          const xv = rand(sizeOf(xs));
          const dyv = rand(sizeOf(info.outShape));
          await assertSameOnBoth(`x [${xs}] f [${f}] co ${co} s ${s} pad ${JSON.stringify(pad)}`, () =>
            runKernel(
              'Conv2DBackpropFilter',
              { x: tf.tensor(xv, xs), dy: tf.tensor(dyv, info.outShape) },
              { strides: s, pad, dataFormat: 'NHWC', filterShape: [f[0], f[1], xs[3], co] },
            ),
          );
        }
      } finally {
        convTuning.backpropFilter = 'auto';
      }
    });
  }

  it('refuses what it does not compute: NCHW, dilations', () => {
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 3]);
    assert.throws(
      () => runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] }),
      /dataFormat 'NCHW' is not supported \(NHWC only\); use --backend cpu/,
    );
    assert.throws(
      () => runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 2, pad: 'same', dataFormat: 'NHWC', dilations: 2, filterShape: [3, 3, 2, 3] }),
      /dilations 2 are not supported/,
    );
    tf.dispose([x, dy]);
  });
});

describe('Conv2DBackpropInput', () => {
  for (const mode of ['subpixel', 'dilate', 'original'] as const) {
    it(`matches cpu, stride > 1 ${mode}: the same configurations`, async () => {
      convTuning.stridedBackpropInput = mode;
      try {
        for (const [xs, f, co, s, pad] of CONVS) {
          const info = convInfo(xs, f, co, s, pad);
          const dyv = rand(sizeOf(info.outShape));
          const wv = rand(f[0] * f[1] * xs[3] * co);
          await assertSameOnBoth(`x [${xs}] f [${f}] co ${co} s ${s} pad ${JSON.stringify(pad)}`, () =>
            runKernel(
              'Conv2DBackpropInput',
              { dy: tf.tensor(dyv, info.outShape), filter: tf.tensor(wv, [f[0], f[1], xs[3], co]) },
              { strides: s, pad, dataFormat: 'NHWC', inputShape: xs },
            ),
          );
        }
      } finally {
        convTuning.stridedBackpropInput = 'subpixel';
      }
    });
  }
});

describe('BatchMatMul', () => {
  const shapes2d: [number, number, number][] = [
    [1, 5, 7],
    [5, 1, 7],
    [5, 7, 1],
    [1, 1, 1],
    [3, 4, 5],
    [17, 9, 13],
    [8, 40, 50],
    [50, 40, 8],
  ];
  for (const plan of ['auto', 'direct', 'swapped'] as const) {
    it(`matches cpu for 2-D products with every transpose combination (${plan})`, async () => {
      matMulTuning.plan = plan;
      try {
        for (const [M, K, N] of shapes2d) {
          for (const tA of [false, true]) {
            for (const tB of [false, true]) {
              const av = rand(M * K);
              const bv = rand(K * N);
              await assertSameOnBoth(`[${M},${K}]x[${K},${N}] tA ${tA} tB ${tB}`, () =>
                tf.matMul(tf.tensor(av, tA ? [K, M] : [M, K]), tf.tensor(bv, tB ? [N, K] : [K, N]), tA, tB),
              );
            }
          }
        }
      } finally {
        matMulTuning.plan = 'auto';
      }
    });
  }

  it('matches cpu for batches: equal batches, a broadcast b (folded into rows), a broadcast a, rank 4', () => assertProductsMatchCpu(BATCH_PRODUCTS));

  it('is not fooled by XNNPACK packing cached by data id (the same data as weights in two shapes)', () => {
    // wasm's own kernel caches the packed b by its data id alone: as shipped, the second product
    // below returns stale garbage.
    const b = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    assert.deepEqual(
      Array.from(
        tf
          .matMul(
            tf.tensor2d([
              [1, 1, 1],
              [2, 0, 1],
            ]),
            b,
          )
          .dataSync(),
      ),
      [9, 12, 7, 10],
    );
    assert.deepEqual(Array.from(tf.matMul(tf.eye(2), tf.reshape(b, [2, 3])).dataSync()), [1, 2, 3, 4, 5, 6]);
    const v = tf.tensor2d([[1, 2, 3]]);
    assert.deepEqual(
      Array.from(
        tf
          .matMul(
            tf.tensor2d([
              [1, 1, 1],
              [2, 0, 1],
            ]),
            v,
            false,
            true,
          )
          .dataSync(),
      ),
      [6, 5],
    );
    assert.deepEqual(Array.from(tf.matMul(tf.tensor2d([[1], [10]]), v).dataSync()), [1, 2, 3, 10, 20, 30]);
  });
});

describe('UnsortedSegmentSum (missing on wasm)', () => {
  it('matches cpu: float32 and int32, dropped out-of-range ids, rank-2 ids, empty segments', async () => {
    const xv = rand(6 * 3);
    await assertSameOnBoth('float32', () => tf.unsortedSegmentSum(tf.tensor(xv, [6, 3]), tf.tensor1d([0, 2, 2, 5, -1, 1], 'int32'), 4));
    await assertSameOnBoth('int32', () =>
      tf.unsortedSegmentSum(
        tf.tensor(
          [
            [1, 2],
            [3, 4],
            [5, 6],
          ],
          [3, 2],
          'int32',
        ),
        tf.tensor1d([1, 1, 0], 'int32'),
        3,
      ),
    );
    // (cpu fails on ids of rank > 1: a plain reference instead.)
    const yv = rand(2 * 3 * 4);
    const idv = [0, 4, 4, 2, 0, 4];
    const expected = new Float32Array(5 * 4);
    idv.forEach((s, i) => {
      for (let k = 0; k < 4; k++) expected[s * 4 + k] += yv[i * 4 + k];
    });
    const got = runKernel('UnsortedSegmentSum', { x: tf.tensor(yv, [2, 3, 4]), segmentIds: tf.tensor(idv, [2, 3], 'int32') }, { numSegments: 5 });
    assert.deepEqual(got.shape, [5, 4]);
    assert.ok(relErr(got.dataSync(), expected) <= 1e-6);
    await assertSameOnBoth('1-D x', () => tf.unsortedSegmentSum(tf.tensor(xv.slice(0, 5), [5]), tf.tensor1d([3, 0, 3, 3, 1], 'int32'), 4));
  });
});

describe('GatherV2 (a copy per index from a heap view)', () => {
  it('matches cpu: every axis, repeated and rank-2 indices, inner size 1, int32, empty, batchDims', async () => {
    const xv = rand(4 * 5 * 3);
    for (const axis of [0, 1, 2, -1]) {
      const n = [4, 5, 3][(axis + 3) % 3];
      await assertSameOnBoth(`axis ${axis}`, () => tf.gather(tf.tensor(xv, [4, 5, 3]), tf.tensor1d([n - 1, 0, 1, n - 1, 1], 'int32'), axis));
      await assertSameOnBoth(`axis ${axis}, rank-2 indices`, () =>
        tf.gather(
          tf.tensor(xv, [4, 5, 3]),
          tf.tensor2d(
            [
              [0, n - 1],
              [1, 1],
              [n - 1, 0],
            ],
            [3, 2],
            'int32',
          ),
          axis,
        ),
      );
    }
    await assertSameOnBoth('1-D x (inner size 1)', () => tf.gather(tf.tensor1d(xv.slice(0, 7)), tf.tensor1d([6, 0, 3, 3], 'int32')));
    await assertSameOnBoth('int32 x', () =>
      tf.gather(
        tf.tensor2d(
          [
            [1, 2],
            [3, 4],
            [5, 6],
          ],
          [3, 2],
          'int32',
        ),
        tf.tensor1d([2, 0], 'int32'),
      ),
    );
    await assertSameOnBoth('no indices', () => tf.gather(tf.tensor(xv, [4, 5, 3]), tf.tensor1d([], 'int32'), 1));
    // wasm's own kernel returns garbage here.
    await assertSameOnBoth('batchDims 1', () =>
      tf.gather(
        tf.tensor(xv, [4, 5, 3]),
        tf.tensor2d(
          [
            [0, 4],
            [1, 1],
            [2, 0],
            [3, 3],
          ],
          [4, 2],
          'int32',
        ),
        1,
        1,
      ),
    );
    await assertSameOnBoth('batchDims 1, axis 2', () =>
      tf.gather(
        tf.tensor(xv, [4, 5, 3]),
        tf.tensor2d(
          [
            [0, 2],
            [1, 1],
            [2, 0],
            [0, 0],
          ],
          [4, 2],
          'int32',
        ),
        2,
        1,
      ),
    );
  });

  it('rejects an index out of range without leaking, and its gradient still sums', async () => {
    const x = tf.tensor2d(rand(6), [3, 2]);
    const before = tf.memory().numTensors;
    assert.throws(() => tf.gather(x, tf.tensor1d([0, 3], 'int32')), /GatherV2: the index value 3 is not in \[0, 2\]/);
    assert.throws(() => tf.gather(x, tf.tensor1d([-1], 'int32')), /index value -1/);
    assert.ok(tf.memory().numTensors <= before + 2, 'only the two index tensors remain');
    const [xv, wv] = [rand(6), rand(8)];
    await assertSameOnBoth('gradient', () =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d([2, 0, 2, 2], 'int32')), tf.tensor2d(wv, [4, 2]))))(tf.tensor2d(xv, [3, 2])),
    );
  });
});

describe('MaxPoolGrad (wasm drops the gradient of negative maxima)', () => {
  const data: Record<string, (n: number) => Float32Array> = {
    random: (n) => rand(n),
    'all negative': (n) => rand(n, -5, -0.5),
    'ties (small integers)': (n) => rand(n, -2.5, 2.5).map(Math.round),
    'all equal negative': (n) => new Float32Array(n).fill(-1),
  };
  it('matches cpu through tf.grad of maxPool: filter 1-3, stride 1-3, same and valid, odd sizes, batch and channels', async () => {
    for (const xs of [
      [1, 4, 4, 1],
      [2, 7, 5, 3],
      [3, 8, 8, 2],
    ] as Shape4[]) {
      for (const [f, s] of [
        [1, 1],
        [2, 2],
        [3, 2],
        [3, 1],
        [2, 1],
        [3, 3],
      ]) {
        for (const pad of ['same', 'valid'] as const) {
          for (const [name, gen] of Object.entries(data)) {
            const xv = gen(sizeOf(xs));
            const yShape = tf.backend_util.computePool2DInfo(xs, f, s, 1, pad).outShape;
            const wv = rand(sizeOf(yShape));
            await assertSameOnBoth(`[${xs}] f ${f} s ${s} ${pad} ${name}`, () => {
              const x = tf.tensor(xv, xs) as tf.Tensor4D;
              const w = tf.tensor(wv, yShape);
              return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, f, s, pad), w)))(x);
            });
          }
        }
      }
    }
  });

  it('all-negative input: the whole gradient arrives (sum 384 on [2,8,8,12], 2x2 windows)', () => {
    const x = tf.tensor(rand(2 * 8 * 8 * 12, -3, -1), [2, 8, 8, 12]) as tf.Tensor4D;
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x);
    assert.equal(g.sum().dataSync()[0], 384);
  });

  it('matches cpu with NaN and -Infinity in windows, and without the forward output', async () => {
    const xs: Shape4 = [2, 6, 5, 2];
    const xv = rand(sizeOf(xs), -3, -1);
    for (let i = 0; i < xv.length; i += 7) xv[i] = NaN;
    for (let i = 3; i < xv.length; i += 11) xv[i] = -Infinity;
    xv.fill(-Infinity, 0, 8);
    for (const [f, s, pad] of [
      [2, 2, 'valid'],
      [3, 1, 'same'],
    ] as const) {
      const yShape = tf.backend_util.computePool2DInfo(xs, f, s, 1, pad).outShape;
      const dyv = rand(sizeOf(yShape));
      for (const withOutput of [true, false]) {
        await assertSameOnBoth(`f ${f} s ${s} ${pad} output ${withOutput}`, () => {
          const x = tf.tensor(xv, xs);
          const inputs: Record<string, tf.Tensor> = { dy: tf.tensor(dyv, yShape), input: x };
          if (withOutput || tf.getBackend() === 'cpu') inputs.output = tf.maxPool(x as tf.Tensor4D, f, s, pad);
          return runKernel('MaxPoolGrad', inputs, { filterSize: f, strides: s, pad });
        });
      }
    }
  });
});

describe('Slice, SplitV, Unpack (wasm copies the whole input through JS per slice)', () => {
  it('match cpu: ranks 1-5, any begin and size (-1 too), every axis, float32, int32 and bool', async () => {
    const cases: [number[], number[], number[]][] = [
      [[7], [2], [3]],
      [[7], [0], [-1]],
      [
        [4, 5],
        [1, 0],
        [2, 5],
      ],
      [
        [4, 5],
        [0, 2],
        [4, 2],
      ],
      [
        [4, 5],
        [3, 4],
        [1, 1],
      ],
      [
        [3, 4, 5],
        [1, 1, 1],
        [2, 2, 3],
      ],
      [
        [3, 4, 5],
        [0, 2, 0],
        [3, 1, 5],
      ],
      [
        [3, 4, 5],
        [2, 0, 0],
        [1, 4, 5],
      ],
      [
        [2, 3, 4, 5],
        [1, 0, 2, 0],
        [1, 3, 2, 5],
      ],
      [
        [2, 3, 4, 5],
        [0, 1, 0, 1],
        [2, -1, 4, 3],
      ],
      [
        [2, 3, 2, 4, 3],
        [1, 1, 0, 2, 0],
        [1, 2, 2, 2, 3],
      ],
      [
        [3, 4],
        [0, 0],
        [3, 4],
      ],
      [
        [3, 4],
        [1, 1],
        [0, 2],
      ],
    ];
    for (const [shape, begin, size] of cases) {
      const v = rand(sizeOf(shape), -5, 5);
      await assertSameOnBoth(`slice [${shape}] ${begin} ${size}`, () => [
        tf.slice(tf.tensor(v, shape), begin, size),
        tf.slice(tf.tensor(v.map(Math.round), shape, 'int32'), begin, size),
        tf.cast(tf.slice(tf.greater(tf.tensor(v, shape), 0), begin, size), 'int32'),
      ]);
    }
    const v = rand(3 * 4 * 6);
    for (let axis = -3; axis < 3; axis++) {
      await assertSameOnBoth(`split and unstack axis ${axis}`, () => {
        const x = tf.tensor(v, [3, 4, 6]);
        const n = x.shape[(axis + 3) % 3];
        return [...tf.unstack(x, axis), ...tf.split(x, n === 6 ? [1, 3, 2] : n === 4 ? 2 : 3, axis)];
      });
    }
    await assertSameOnBoth('gradients of slice, split, unstack', () =>
      tf.grad((x: tf.Tensor) => {
        const [a, b] = tf.split(x, [1, 3], 1);
        const us = tf.unstack(b, 2);
        return tf.add(tf.sum(tf.mul(a, a)), tf.add(tf.sum(tf.mul(us[2], tf.slice(x, [0, 0, 1], [3, 3, 1]).reshape([3, 3]))), tf.sum(tf.tanh(us[5]))));
      })(tf.tensor(v, [3, 4, 6])),
    );
  });
});

/** <f(x), dy> = <x, f'(dy)>: the gradient of a linear f is its adjoint. */
async function assertAdjoint(what: string, f: (x: tf.Tensor4D) => tf.Tensor4D, xs: Shape4): Promise<void> {
  const xv = rand(sizeOf(xs));
  const [lhs, rhs] = tf.tidy(() => {
    const x = tf.tensor(xv, xs) as tf.Tensor4D;
    const y = f(x);
    const dy = tf.tensor(rand(y.size), y.shape);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), dy)))(x);
    assert.deepEqual(g.shape, xs, `${what}: gradient shape`);
    return [tf.sum(tf.mul(y, dy)).dataSync()[0], tf.sum(tf.mul(x, g)).dataSync()[0]];
  });
  assert.ok(Math.abs(lhs - rhs) <= 1e-5 * Math.max(1, Math.abs(lhs)), `${what}: <f(x), dy> = ${lhs} but <x, grad> = ${rhs}`);
}

describe('Identity (wasm copies the tensor)', () => {
  it('shares the data: clone() adds no data id, the clone outlives its source, and both dispose cleanly', () => {
    const ids = () => (tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds();
    const x = tf.tensor2d(rand(12), [3, 4]);
    const values = Array.from(x.dataSync());
    const before = ids();
    const y = x.clone();
    assert.equal(ids(), before, 'no new data');
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), values);
    const z = tf.add(y, 1);
    assert.deepEqual(
      Array.from(z.dataSync()),
      values.map((v) => Math.fround(v + 1)),
    );
    tf.dispose([y, z]);
    assert.equal(ids(), before - 1, 'freed with the last tensor');
    // A variable and the gradients that read it: the same values as on cpu.
    return assertSameOnBoth('variable through tf.grads', () => {
      const v = tf.variable(tf.tensor1d([1, -2, 3]));
      const g = tf.variableGrads(() => tf.sum(tf.square(v.clone())) as tf.Scalar, [v]);
      const out = [g.value, g.grads[v.name]];
      v.dispose();
      return out;
    });
  });
});

describe('other kernels the three model families use', () => {
  it('ResizeBilinearGrad is the adjoint of resizeBilinear in every mode (wasm ignores halfPixelCenters; cpu breaks non-square)', async () => {
    for (const [xs, size] of [
      [
        [2, 5, 5, 3],
        [10, 10],
      ],
      [
        [2, 4, 6, 3],
        [7, 9],
      ],
      [
        [1, 4, 8, 2],
        [8, 16],
      ],
      [
        [1, 6, 6, 2],
        [4, 3],
      ],
      [
        [1, 3, 3, 1],
        [6, 6],
      ],
    ] as [Shape4, [number, number]][]) {
      for (const ac of [false, true]) {
        for (const hp of ac ? [false] : [false, true]) {
          await assertAdjoint(`[${xs}] -> ${size} alignCorners ${ac} halfPixelCenters ${hp}`, (x) => tf.image.resizeBilinear(x, size, ac, hp), xs);
        }
      }
    }
  });

  it('ResizeBilinearGrad matches cpu where cpu is right (square images, no halfPixelCenters)', async () => {
    for (const ac of [false, true]) {
      const xv = rand(2 * 5 * 5 * 3);
      const dyv = rand(2 * 10 * 10 * 3);
      await assertSameOnBoth(`alignCorners ${ac}`, () =>
        tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(x as tf.Tensor4D, [10, 10], ac), tf.tensor(dyv, [2, 10, 10, 3]))))(
          tf.tensor(xv, [2, 5, 5, 3]),
        ),
      );
    }
  });

  it('ResizeNearestNeighborGrad is the adjoint of resizeNearestNeighbor in every mode (wasm breaks halfPixelCenters)', async () => {
    for (const [xs, size] of [
      [
        [2, 5, 5, 3],
        [10, 10],
      ],
      [
        [2, 4, 6, 3],
        [7, 9],
      ],
      [
        [1, 6, 6, 2],
        [4, 3],
      ],
      [
        [1, 5, 7, 2],
        [9, 4],
      ],
      [
        [1, 3, 3, 1],
        [7, 11],
      ],
    ] as [Shape4, [number, number]][]) {
      for (const [ac, hp] of [
        [false, false],
        [true, false],
        [false, true],
      ]) {
        await assertAdjoint(`[${xs}] -> ${size} alignCorners ${ac} halfPixelCenters ${hp}`, (x) => tf.image.resizeNearestNeighbor(x, size, ac, hp), xs);
      }
    }
  });

  it('AvgPoolGrad and activation gradients match cpu', async () => {
    for (const [f, s, pad] of [
      [2, 2, 'valid'],
      [3, 2, 'same'],
      [3, 1, 'same'],
      [3, 1, 'valid'],
    ] as const) {
      const xv = rand(2 * 7 * 5 * 3, -3, 1);
      const yShape = tf.backend_util.computePool2DInfo([2, 7, 5, 3], f, s, 1, pad).outShape;
      const wv = rand(sizeOf(yShape));
      await assertSameOnBoth(`avgPool f ${f} s ${s} ${pad}`, () => {
        const x = tf.tensor(xv, [2, 7, 5, 3]) as tf.Tensor4D;
        return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(t as tf.Tensor4D, f, s, pad), tf.tensor(wv, yShape))))(x);
      });
    }
    const xv = rand(300, -8, 8);
    const wv = rand(300);
    const acts: [string, (x: tf.Tensor) => tf.Tensor][] = [
      ['relu', tf.relu],
      ['relu6', tf.relu6],
      ['leakyRelu', (x) => tf.leakyRelu(x, 0.2)],
      ['elu', tf.elu],
      ['sigmoid', tf.sigmoid],
      ['tanh', tf.tanh],
      ['softplus', tf.softplus],
      ['softmax', (x) => tf.softmax(tf.reshape(x, [30, 10]))],
      ['logSumExp', (x) => tf.logSumExp(tf.reshape(x, [30, 10]), 1)],
    ];
    for (const [name, act] of acts) {
      await assertSameOnBoth(name, () => {
        const x = tf.tensor(xv);
        const w = tf.tensor(wv);
        return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.reshape(act(t), [-1]), tf.slice(w, 0, act(t).size))))(x);
      });
    }
  });
});

describe('gradients through tf.grads match cpu', () => {
  it('conv2d, conv2dTranspose (stride 1 and 2), matMul with transposes, gather, maxPool', async () => {
    for (const [xs, f, co, s, pad] of CONVS.filter(([, , , s]) => typeof s === 'number')) {
      const info = convInfo(xs, f, co, s, pad);
      const xv = rand(sizeOf(xs));
      const wv = rand(f[0] * f[1] * xs[3] * co);
      const rv = rand(sizeOf(info.outShape));
      await assertSameOnBoth(`conv2d [${xs}] f [${f}] s ${s} ${JSON.stringify(pad)}`, () =>
        tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s as number, pad), tf.tensor(rv, info.outShape))))(
          [tf.tensor(xv, xs), tf.tensor(wv, [f[0], f[1], xs[3], co])],
        ),
      );
      if (typeof pad === 'object') continue; // conv2dTranspose takes 'same', 'valid' or a number
      // conv2dTranspose(y, w) maps info.outShape back to xs.
      await assertSameOnBoth(`conv2dTranspose to [${xs}] f [${f}] s ${s} ${pad}`, () =>
        tf.grads((y: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2dTranspose(y as tf.Tensor4D, w as tf.Tensor4D, xs, s as number, pad), tf.tensor(xv, xs))),
        )([tf.tensor(rv, info.outShape), tf.tensor(wv, [f[0], f[1], xs[3], co])]),
      );
    }
    for (const [tA, tB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const av = rand(7 * 5);
      const bv = rand(5 * 6);
      await assertSameOnBoth(`matMul tA ${tA} tB ${tB}`, () =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, tA, tB))))([
          tf.tensor(av, tA ? [5, 7] : [7, 5]),
          tf.tensor(bv, tB ? [6, 5] : [5, 6]),
        ]),
      );
    }
    const ev = rand(10 * 4);
    await assertSameOnBoth('gather (embedding) with repeated ids', () =>
      tf.grad((e: tf.Tensor) =>
        tf.sum(
          tf.tanh(
            tf.gather(
              e,
              tf.tensor2d(
                [
                  [1, 3, 3],
                  [9, 0, 1],
                ],
                [2, 3],
                'int32',
              ) as tf.Tensor,
            ),
          ),
        ),
      )(tf.tensor(ev, [10, 4])),
    );
    const xv = rand(2 * 9 * 7 * 3, -4, -1);
    await assertSameOnBoth('maxPool, all negative', () =>
      tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'))))(tf.tensor(xv, [2, 9, 7, 3])),
    );
  });

  it('a small U-net (conv, maxPool, conv2dTranspose and resizeBilinear up, concat) and a BiLSTM-style tagger', async () => {
    // (Square images: cpu's resizeBilinear gradient has the wrong shape for non-square ones.)
    const p = {
      w1: rand(3 * 3 * 2 * 4),
      w2: rand(3 * 3 * 4 * 8),
      wt: rand(2 * 2 * 4 * 8),
      w3: rand(3 * 3 * 12 * 2),
      w4: rand(1 * 1 * 8 * 2),
      x: rand(2 * 10 * 10 * 2),
    };
    await assertSameOnBoth('U-net', () => {
      const v = Object.fromEntries(Object.entries(p).map(([k, a]) => [k, tf.tensor(a)]));
      const shapes: Record<string, number[]> = { w1: [3, 3, 2, 4], w2: [3, 3, 4, 8], wt: [2, 2, 4, 8], w3: [3, 3, 12, 2], w4: [1, 1, 8, 2] };
      const x = tf.reshape(v.x, [2, 10, 10, 2]) as tf.Tensor4D;
      return tf.grads((w1: tf.Tensor, w2: tf.Tensor, wt: tf.Tensor, w3: tf.Tensor, w4: tf.Tensor) => {
        const c1 = tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same'));
        const d = tf.maxPool(c1, 2, 2, 'valid');
        const c2 = tf.elu(tf.conv2d(d, w2 as tf.Tensor4D, 1, 'same'));
        const up = tf.conv2dTranspose(c2, wt as tf.Tensor4D, [2, 10, 10, 4], 2, 'valid');
        const up2 = tf.conv2d(tf.image.resizeBilinear(c2, [10, 10]), w4 as tf.Tensor4D, 1, 'valid');
        const cat = tf.concat([c1, up, tf.sigmoid(up2), tf.leakyRelu(up2, 0.1)], 3);
        return tf.mean(tf.square(tf.conv2d(cat, w3 as tf.Tensor4D, 1, 'same')));
      })(['w1', 'w2', 'wt', 'w3', 'w4'].map((k) => tf.reshape(v[k], shapes[k])));
    });
    const q = { emb: rand(20 * 6), wx: rand(6 * 16), wh: rand(4 * 16), wo: rand(8 * 5) };
    const ids = [
      [1, 4, 4, 19, 0],
      [7, 7, 2, 3, 11],
    ];
    await assertSameOnBoth('BiLSTM-style tagger', () => {
      const v = Object.fromEntries(Object.entries(q).map(([k, a]) => [k, tf.tensor(a)]));
      return tf.grads((emb: tf.Tensor, wx: tf.Tensor, wh: tf.Tensor, wo: tf.Tensor) => {
        const e = tf.gather(tf.reshape(emb, [20, 6]), tf.tensor2d(ids, [2, 5], 'int32')); // [2, 5, 6]
        const xin = tf.reshape(tf.matMul(tf.reshape(e, [10, 6]), tf.reshape(wx, [6, 16])), [2, 5, 16]);
        const run = (steps: tf.Tensor[]) => {
          let h = tf.zeros([2, 4]);
          let c = tf.zeros([2, 4]);
          const hs: tf.Tensor[] = [];
          for (const xt of steps) {
            const z = tf.add(xt, tf.matMul(h, tf.reshape(wh, [4, 16])));
            const [i, f, o, g] = tf.split(z, 4, 1);
            c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
            h = tf.mul(tf.sigmoid(o), tf.tanh(c));
            hs.push(h);
          }
          return hs;
        };
        const steps = tf.unstack(xin, 1);
        const fwd = run(steps);
        const bwd = run(steps.slice().reverse()).reverse();
        const hcat = tf.stack(
          fwd.map((h, t) => tf.concat([h, bwd[t]], 1)),
          1,
        ); // [2, 5, 8]
        const logits = tf.matMul(tf.reshape(hcat, [10, 8]), tf.reshape(wo, [8, 5]));
        // (Not tf.logSoftmax: its custom gradient trips the IS_TEST leak check on wasm, a false alarm.)
        return tf.neg(tf.mean(tf.sub(logits, tf.logSumExp(logits, 1, true))));
      })([v.emb, v.wx, v.wh, v.wo]);
    });
  });
});

describe('no leaks', () => {
  it('50 Adam steps of a small conv net with an embedding keep tensors and data ids constant', () => {
    const vars = {
      w1: tf.variable(tf.tensor(rand(3 * 3 * 1 * 4, -0.3, 0.3), [3, 3, 1, 4])),
      wt: tf.variable(tf.tensor(rand(2 * 2 * 4 * 4, -0.3, 0.3), [2, 2, 4, 4])),
      w2: tf.variable(tf.tensor(rand(3 * 3 * 5 * 2, -0.3, 0.3), [3, 3, 5, 2])),
      emb: tf.variable(tf.tensor(rand(10 * 6), [10, 6])),
      wo: tf.variable(tf.tensor(rand(6 * 3), [6, 3])),
    };
    const x = tf.tensor(rand(4 * 8 * 8 * 1), [4, 8, 8, 1]) as tf.Tensor4D;
    const ids = tf.tensor2d(
      [
        [1, 2, 2, 9, 0],
        [3, 3, 3, 4, 5],
      ],
      [2, 5],
      'int32',
    );
    const opt = tf.train.adam(0.01);
    const step = () => {
      const loss = opt.minimize(() => {
        const c1 = tf.relu(tf.conv2d(x, vars.w1 as tf.Tensor4D, 1, 'same'));
        const up = tf.conv2dTranspose(tf.maxPool(c1, 2, 2, 'valid'), vars.wt as tf.Tensor4D, [4, 8, 8, 4], 2, 'valid');
        const out = tf.conv2d(tf.concat([up, x], 3), vars.w2 as tf.Tensor4D, 1, 'same');
        const tag = tf.tanh(tf.matMul(tf.reshape(tf.gather(vars.emb, ids), [10, 6]), vars.wo));
        return tf.add(tf.mean(tf.square(out)), tf.mean(tf.square(tag))) as tf.Scalar;
      }, true)!;
      const v = loss.dataSync()[0];
      loss.dispose();
      return v;
    };
    const first = step();
    for (let i = 0; i < 4; i++) step();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const tensors = tf.memory().numTensors;
    const dataIds = backend.numDataIds();
    let last = first;
    for (let i = 0; i < 50; i++) last = step();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(backend.numDataIds(), dataIds);
    assert.ok(last < first, `loss ${first} -> ${last}`);
    tf.dispose([x, ids, ...Object.values(vars)]);
    opt.dispose();
  });
});
