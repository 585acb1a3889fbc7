/**
 * The task networks (src/models): shapes, seeded initialisation, the fused BiLSTM against an
 * unfused reference, variable-length masking, tensor leaks, and a few Adam steps of each family on
 * the cpu and the wasm back end from the same initial weights.
 *
 * cpu vs wasm tolerance: losses agree to 1e-3 relative, step by step. The two back ends sum in
 * different orders (XNNPACK's blocked matMuls and convolutions vs plain JS loops), float32 rounding
 * differences of ~1e-6 in the first loss grow through Adam's normalised updates (a parameter with a
 * near-zero gradient can move by up to ±lr on either side), so a tighter bound would test rounding.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import * as chain from '../src/crf/chain.js';
import { MODEL_BENCHES } from '../bench/models.js';
import { layersBiLstm } from './fixtures/layers-bilstm.js';
import { RELU_GRAD } from '../src/backend/kernel-names.js';
import { close, maxAbsDiff, needs } from './helpers.js';
import { createChunker, type ChunkerBatch } from '../src/models/chunker.js';
import { normalArray } from '../src/models/init.js';
import { createLeNet } from '../src/models/lenet.js';
import { type LstmWeights, createBiLstm, createCharBiLstm, lengthSplit } from '../src/models/lstm.js';
import { createUNet } from '../src/models/unet.js';
import { Rng } from '../src/util/rng.js';

const NATIVE = needs('native', 'test/models.test.ts (the native tests):');
type Backend = 'cpu' | 'wasm' | 'native';

async function use(backend: Backend): Promise<void> {
  const b = await selectBackend(backend);
  assert.equal(b.name, backend);
}

const randn = (rng: Rng, shape: number[], std = 1): tf.Tensor =>
  tf.tensor(
    normalArray(
      rng,
      shape.reduce((a, b) => a * b, 1),
      std,
    ),
    shape,
  );

/** A model family as the step-by-step test trains it: built from an Rng, a loss closure and its parameters. */
interface Trainable {
  params: tf.Variable[];
  loss(): tf.Scalar;
  dispose(): void;
}

/**
 * `steps` Adam steps on `backend` from `new Rng(seed)`: the losses, and checks that the step leaks
 * no tensor (the count is flat from the second step on: Adam makes its slots on the first) and that
 * dispose() returns to the starting count.
 */
async function train(backend: Backend, build: (rng: Rng) => Trainable, steps: number, seed = 7): Promise<number[]> {
  await use(backend);
  const before = tf.memory().numTensors;
  const m = build(new Rng(seed));
  const opt = tf.train.adam(0.01);
  const losses: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < steps; i++) {
    const l = opt.minimize(() => m.loss(), true, m.params)!;
    losses.push(l.dataSync()[0]);
    l.dispose();
    counts.push(tf.memory().numTensors);
  }
  assert.deepEqual(
    counts.slice(1),
    counts.slice(1).map(() => counts[1]),
    `${backend}: tensor count grows across steps: ${counts}`,
  );
  opt.dispose();
  m.dispose();
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors left after dispose`);
  for (const l of losses) assert.ok(Number.isFinite(l), `${backend}: loss ${l}`);
  return losses;
}

function assertSameLosses(t: TestContext, cpu: number[], wasm: number[], what: string, other = 'wasm'): void {
  let worst = 0;
  cpu.forEach((c, i) => {
    const rel = Math.abs(wasm[i] - c) / Math.max(1e-6, Math.abs(c));
    worst = Math.max(worst, rel);
    assert.ok(rel <= 1e-3, `${what} step ${i}: cpu ${c} vs ${other} ${wasm[i]} (relative ${rel.toExponential(2)})`);
  });
  assert.ok(cpu[cpu.length - 1] < cpu[0], `${what}: the loss did not decrease (${cpu})`);
  t.diagnostic(`${what}: losses ${cpu.map((l) => l.toFixed(5)).join(', ')}; largest cpu/${other} relative difference ${worst.toExponential(2)}`);
}

// ---------------------------------------------------------------------------------------------
// LeNet.

function lenetTrainable(rng: Rng): Trainable {
  const net = createLeNet({ conv: [4, 6], fc: [16], classes: 5 }, rng);
  const x = tf.tensor4d(
    Float32Array.from({ length: 6 * 128 }, () => (rng.next() < 0.3 ? 1 : 0)),
    [6, 16, 8, 1],
  );
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), 5));
  return {
    params: net.params,
    loss: () => tf.losses.softmaxCrossEntropy(y, net.apply(x)) as tf.Scalar,
    dispose: () => {
      net.dispose();
      tf.dispose([x, y]);
    },
  };
}

let lenetCpu: number[] = [];
test('LeNet: shapes, presets, FLOPs, padding check, seeded init; trains on cpu without leaks', async () => {
  await use('cpu');
  const before = tf.memory().numTensors;
  for (const preset of ['lenet5', 'lenet20-50-500'] as const) {
    const net = createLeNet(preset, new Rng(1));
    const out = tf.tidy(() => net.apply(tf.zeros([2, 16, 8, 1])));
    assert.deepEqual(out.shape, [2, 26]);
    out.dispose();
    net.dispose();
  }
  const big = createLeNet('lenet20-50-500', new Rng(1));
  assert.equal(big.flops([1]), 2 * (16 * 8 * 25 * 20 + 8 * 4 * 25 * 20 * 50 + 4 * 2 * 50 * 500 + 500 * 26));
  assert.equal(big.params.length, 8);
  big.dispose();
  assert.throws(() => createLeNet({ padding: 'valid' }, new Rng(1)), /padding 'same'/);
  // Same seed → identical weights; another seed → different ones; outputScale scales the last layer.
  const a = createLeNet('lenet5', new Rng(5));
  const b = createLeNet('lenet5', new Rng(5));
  const c = createLeNet('lenet5', new Rng(6));
  const s = createLeNet({ conv: [6, 16], fc: [120, 84], outputScale: 0.1 }, new Rng(5));
  a.params.forEach((p, i) => assert.equal(maxAbsDiff(p.dataSync(), b.params[i].dataSync()), 0));
  assert.ok(maxAbsDiff(a.params[0].dataSync(), c.params[0].dataSync()) > 0);
  const aw = a.variables['out/w'].dataSync();
  const sw = s.variables['out/w'].dataSync();
  assert.ok(
    maxAbsDiff(
      Array.from(aw, (v) => 0.1 * v),
      sw,
    ) < 1e-7,
  );
  // init 'torch': U(±1/√fan_in) weights and biases (conv1: fan_in 25).
  const t = createLeNet({ conv: [6, 16], fc: [120, 84], init: 'torch' }, new Rng(5));
  const tb = t.variables['conv1/b'].dataSync();
  assert.ok(tb.some((v) => v !== 0) && tb.every((v) => Math.abs(v) <= 1 / 5));
  [a, b, c, s, t].forEach((m) => m.dispose());
  assert.equal(tf.memory().numTensors, before);
  lenetCpu = await train('cpu', lenetTrainable, 4);
});

test('LeNet dropout: off outside training; in training a seeded mask on the FC inputs, scaled by 1/(1 − p)', async () => {
  await use('cpu');
  const before = tf.memory().numTensors;
  const x = tf.tidy(() => tf.randomUniform([8, 16, 8, 1], 0, 1, 'float32', 3)) as tf.Tensor4D;
  const plain = createLeNet({ conv: [4, 6], fc: [16], classes: 5 }, new Rng(2));
  const net = createLeNet({ conv: [4, 6], fc: [16], classes: 5, dropout: 0.5 }, new Rng(2));
  const run = (n: typeof net, training?: Rng) => tf.tidy(() => Array.from(n.apply(x, training).dataSync()));
  assert.deepEqual(run(net), run(plain), 'without training, dropout changes nothing');
  assert.deepEqual(run(plain, new Rng(9)), run(plain), 'rate 0 drops nothing in training either');
  const a = run(net, new Rng(9));
  assert.deepEqual(run(net, new Rng(9)), a, 'the same seed stream gives the same mask');
  assert.notDeepEqual(a, run(net));
  assert.notDeepEqual(run(net, new Rng(10)), a);
  // The kept units are scaled by 1/(1 − p): with a linear net (no hidden FC layer) the mean output over
  // many masks approaches the output without dropout.
  const linear = createLeNet({ conv: [4, 6], fc: [], classes: 5, dropout: 0.5 }, new Rng(2));
  const rng = new Rng(11);
  const mean = new Array<number>(40).fill(0);
  for (let i = 0; i < 400; i++) run(linear, rng).forEach((v, j) => (mean[j] += v / 400));
  const exact = run(linear);
  const scale = Math.max(...exact.map(Math.abs));
  assert.ok(maxAbsDiff(mean, exact) < 0.15 * scale, `mean over masks ${mean.slice(0, 4)} vs ${exact.slice(0, 4)}`);
  assert.throws(() => createLeNet({ dropout: 1 }, new Rng(1)), /dropout must be in \[0, 1\)/);
  [plain, net, linear].forEach((n) => n.dispose());
  x.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('LeNet: wasm training matches cpu step by step (same init, rel ≤ 1e-3)', async (t) => {
  assert.ok(lenetCpu.length > 0, 'the cpu test did not run');
  assertSameLosses(t, lenetCpu, await train('wasm', lenetTrainable, 4), 'LeNet');
});

test('LeNet: native training matches cpu step by step (same init, rel ≤ 1e-3)', NATIVE, async (t) => {
  assert.ok(lenetCpu.length > 0, 'the cpu test did not run');
  assertSameLosses(t, lenetCpu, await train('native', lenetTrainable, 4), 'LeNet', 'native');
});

/** Loss and gradients of every LeNet parameter on `backend` (same init): input values in [-1, 1], so some ReLUs are off. */
async function lenetGrads(backend: Backend, padding: 'same' | 'valid'): Promise<{ loss: number; grads: Float32Array[] }> {
  await use(backend);
  const rng = new Rng(5);
  const net = createLeNet({ conv: [4, 6], fc: [16], classes: 5, padding, inputShape: [20, 20, 2] }, rng);
  const x = tf.tensor4d(
    Float32Array.from({ length: 3 * 20 * 20 * 2 }, () => 2 * rng.next() - 1),
    [3, 20, 20, 2],
  );
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 3, 4], 'int32'), 5));
  const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.apply(x)) as tf.Scalar, net.params);
  const out = { loss: value.dataSync()[0], grads: net.params.map((p) => grads[p.name].dataSync() as Float32Array) };
  tf.dispose([value, ...Object.values(grads), x, y]);
  net.dispose();
  return out;
}

test(
  "LeNet on native: the conv + bias + ReLU op with its own gradient (RELU_GRAD) = cpu's tfjs path, values and every gradient, same and valid padding",
  NATIVE,
  async () => {
    for (const padding of ['same', 'valid'] as const) {
      const cpu = await lenetGrads('cpu', padding);
      const native = await lenetGrads('native', padding);
      assert.ok(tf.getKernel(RELU_GRAD, 'wasm') !== undefined, 'native registers RELU_GRAD');
      close(native.loss, cpu.loss, { rtol: 1e-5 }, `${padding}: loss`);
      cpu.grads.forEach((g, i) => {
        const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
        assert.ok(maxAbsDiff(native.grads[i], g) <= 1e-5 * scale, `${padding}: gradient ${i} differs by ${maxAbsDiff(native.grads[i], g)} (scale ${scale})`);
      });
    }
  },
);

// ---------------------------------------------------------------------------------------------
// BiLSTM.

/**
 * The straightforward reference: each sequence alone (no padding, no masks), each direction, each
 * time step and each gate with its own matMuls, standard σ and tanh. Returns per-sequence outputs
 * [L, 2H] (forward ⊕ backward) and final states [2H] as tensors (differentiable).
 */
function referenceBiLstm(x: tf.Tensor3D, lengths: number[], dirs: readonly LstmWeights[]): { outputs: tf.Tensor2D[]; finals: tf.Tensor1D[] } {
  const H = dirs[0].recurrent.shape[0];
  const In = x.shape[2];
  const gates = dirs.map((w) =>
    [0, 1, 2, 3].map((g) => ({
      k: tf.slice(w.kernel, [0, g * H], [In, H]),
      r: tf.slice(w.recurrent, [0, g * H], [H, H]),
      b: tf.slice(w.bias, [g * H], [H]),
    })),
  );
  const outputs: tf.Tensor2D[] = [];
  const finals: tf.Tensor1D[] = [];
  lengths.forEach((L, bi) => {
    const perDir = gates.map((G, d) => {
      let h: tf.Tensor = tf.zeros([1, H]);
      let c: tf.Tensor = tf.zeros([1, H]);
      const hs: tf.Tensor[] = new Array(L);
      for (let k = 0; k < L; k++) {
        const t = d === 1 ? L - 1 - k : k;
        const xt = tf.reshape(tf.slice(x, [bi, t, 0], [1, 1, In]), [1, In]);
        const [i, f, g, o] = G.map((p) => tf.add(tf.add(tf.matMul(xt, p.k), tf.matMul(h, p.r)), p.b));
        c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
        h = tf.mul(tf.sigmoid(o), tf.tanh(c));
        hs[t] = h;
      }
      return { seq: L > 0 ? tf.concat(hs, 0) : tf.zeros([0, H]), final: tf.reshape(h, [H]) };
    });
    outputs.push(
      tf.concat(
        perDir.map((p) => p.seq),
        1,
      ) as tf.Tensor2D,
    );
    finals.push(
      tf.concat(
        perDir.map((p) => p.final),
        0,
      ) as tf.Tensor1D,
    );
  });
  return { outputs, finals };
}

/** x with real positions from `rng` and padding positions filled with `pad`. */
function paddedInput(rng: Rng, lengths: number[], T: number, In: number, pad: () => number): tf.Tensor3D {
  const v = new Float32Array(lengths.length * T * In);
  lengths.forEach((L, b) => {
    for (let t = 0; t < T; t++) for (let i = 0; i < In; i++) v[(b * T + t) * In + i] = t < L ? rng.normal() : pad();
  });
  return tf.tensor3d(v, [lengths.length, T, In]);
}

/** `scale` multiplies the inputs: large saturates the gates (|z| up to ~100), tiny keeps them near σ(0) and tanh(0). */
async function fusedVsReference(backend: Backend, scale = 1): Promise<void> {
  await use(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(3);
  const [In, H] = [5, 6];
  const lengths = [7, 3, 1, 5, 0];
  const T = 7;
  const m = createBiLstm({ inputSize: In, hidden: H }, new Rng(11));
  const x0 = tf.tidy(() =>
    tf.mul(
      paddedInput(rng, lengths, T, In, () => 0),
      scale,
    ),
  ) as tf.Tensor3D;
  const x = tf.variable(x0);
  x0.dispose();
  const ro = randn(rng, [lengths.length, T, 2 * H]);
  const rf = randn(rng, [lengths.length, 2 * H]);
  const vars = [x, ...m.params];
  // The loss Σ outputs·ro + Σ final·rf, or one half of it.
  type Half = 'outputs' | 'final' | 'both';
  const fusedLoss = (half: Half) => () => {
    const r = m.run(x, lengths, { outputs: half !== 'final', final: half !== 'outputs' });
    if (half !== 'both') assert.equal(half === 'outputs' ? r.final : r.outputs, undefined, `${backend}: ${half} only`);
    const terms = [half !== 'final' ? tf.sum(tf.mul(r.outputs!, ro)) : null, half !== 'outputs' ? tf.sum(tf.mul(r.final!, rf)) : null];
    return tf.addN(terms.filter((v): v is tf.Tensor => v !== null)) as tf.Scalar;
  };
  const refLoss = (half: Half) => () => {
    const r = referenceBiLstm(x, lengths, m.directions);
    const terms = lengths.flatMap((L, b) => [
      ...(half !== 'final' ? [tf.sum(tf.mul(r.outputs[b], tf.reshape(tf.slice(ro, [b, 0, 0], [1, L, 2 * H]), [L, 2 * H])))] : []),
      ...(half !== 'outputs' ? [tf.sum(tf.mul(r.finals[b], tf.reshape(tf.slice(rf, [b, 0], [1, 2 * H]), [2 * H])))] : []),
    ]);
    return tf.addN(terms) as tf.Scalar;
  };
  const sameGrads = (half: Half): void => {
    const got = tf.variableGrads(fusedLoss(half), vars);
    const want = tf.variableGrads(refLoss(half), vars);
    const [g0, e0] = [got.value.dataSync()[0], want.value.dataSync()[0]];
    assert.ok(Math.abs(g0 - e0) <= 1e-5 * Math.max(1, Math.abs(e0)), `${backend} (${half}): loss ${g0} vs ${e0}`);
    for (const v of vars) {
      const g = got.grads[v.name].dataSync();
      const e = want.grads[v.name].dataSync();
      const scale = Math.max(1, ...Array.from(e, Math.abs));
      assert.ok(maxAbsDiff(g, e) <= 1e-5 * scale, `${backend} (${half}): gradient of ${v.name} [${v.shape}] differs by ${maxAbsDiff(g, e)}`);
    }
    tf.dispose([got.value, want.value, ...Object.values(got.grads), ...Object.values(want.grads)]);
  };
  // Outputs and final states themselves.
  tf.tidy(() => {
    const r = m.run(x, lengths);
    const e = referenceBiLstm(x, lengths, m.directions);
    const out = r.outputs!.arraySync();
    const fin = r.final!.arraySync();
    lengths.forEach((L, b) => {
      const eo = e.outputs[b].arraySync();
      for (let t = 0; t < T; t++) {
        const expect = t < L ? eo[t] : new Array(2 * H).fill(0);
        assert.ok(maxAbsDiff(out[b][t], expect) <= 1e-5, `${backend}: output b=${b} t=${t}`);
        if (t >= L)
          assert.ok(
            out[b][t].every((v) => v === 0),
            `${backend}: padding output b=${b} t=${t} not exactly 0`,
          );
      }
      assert.ok(maxAbsDiff(fin[b], e.finals[b].arraySync()) <= 1e-5, `${backend}: final state b=${b}`);
    });
  });
  // Gradients of the whole loss, and of each half alone (`final: false`, `outputs: false`: the kernel's two modes).
  for (const half of ['both', 'outputs', 'final'] as const) sameGrads(half);
  assert.throws(() => m.run(x, lengths, { outputs: false, final: false }), /nothing to compute/);
  tf.dispose([x, ro, rf]);
  m.dispose();
  assert.equal(tf.memory().numTensors, before, `${backend}: leak`);
}

test('BiLSTM: fused = unfused per-gate reference (outputs, final states, gradients) within 1e-5, cpu', () => fusedVsReference('cpu'));
test('BiLSTM: fused = unfused per-gate reference (outputs, final states, gradients) within 1e-5, wasm', () => fusedVsReference('wasm'));
test('BiLSTM: the native recurrence kernel = unfused per-gate reference (outputs, final states, gradients) within 1e-5', NATIVE, () =>
  fusedVsReference('native'),
);
// The kernel's own vectorised sigmoid and tanh (native/sps_lstm.c) at their edges: saturated gates and near-zero ones.
test('BiLSTM: the native recurrence kernel = the reference with saturated gates (inputs ×40) and tiny ones (×1e-4)', NATIVE, async () => {
  await fusedVsReference('native', 40);
  await fusedVsReference('native', 1e-4);
});

async function maskingChecks(backend: Backend): Promise<void> {
  await use(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(9);
  const [In, H, T] = [3, 4, 6];
  const m = createBiLstm({ inputSize: In, hidden: H }, new Rng(2));
  const lengths = [6, 2, 4, 1];
  const xs = Array.from({ length: 4 }, () => normalArray(rng, T * In, 1));
  const batch = (pad: number): tf.Tensor3D =>
    tf.tensor3d(
      Float32Array.from({ length: 4 * T * In }, (_, i) => {
        const [b, t] = [Math.floor(i / (T * In)), Math.floor(i / In) % T];
        return t < lengths[b] ? xs[b][i % (T * In)] : pad;
      }),
      [4, T, In],
    );
  const a = batch(0);
  const g = batch(1e4); // garbage in the padding
  const [oa, og, fa, fg] = tf.tidy(() => {
    const ra = m.run(a, lengths);
    const rg = m.run(g, lengths);
    return [ra.outputs!.arraySync(), rg.outputs!.arraySync(), ra.final!.arraySync(), rg.final!.arraySync()];
  });
  assert.deepEqual(og, oa, 'padding content changed an output');
  assert.deepEqual(fg, fa, 'padding content changed a final state');
  lengths.forEach((L, b) => {
    const alone = tf.tidy(() => {
      const x1 = tf.tensor3d(xs[b].slice(0, L * In), [1, L, In]);
      const r = m.run(x1, [L]);
      return { o: r.outputs!.arraySync()[0], f: r.final!.arraySync()[0] };
    });
    for (let t = 0; t < T; t++) {
      if (t < L) assert.ok(maxAbsDiff(oa[b][t], alone.o[t]) <= 1e-6, `b=${b} t=${t}: alone vs batched`);
      else
        assert.ok(
          oa[b][t].every((v) => v === 0),
          `b=${b} t=${t}: padding output not 0`,
        );
    }
    assert.ok(maxAbsDiff(fa[b], alone.f) <= 1e-6, `b=${b}: final alone vs batched`);
  });
  // Gradients: identical whatever the padding holds, and exactly 0 at padding inputs.
  const gradsOf = (x: tf.Tensor3D) => {
    const xc = x.clone();
    const xv = tf.variable(xc);
    xc.dispose();
    const { value, grads } = tf.variableGrads(() => {
      const r = m.run(xv, lengths);
      return tf.add(tf.sum(tf.square(r.outputs!)), tf.sum(r.final!)) as tf.Scalar;
    }, [xv, ...m.params]);
    const out = [xv, ...m.params].map((v) => Array.from(grads[v.name].dataSync()));
    tf.dispose([value, ...Object.values(grads), xv]);
    return out;
  };
  const ga = gradsOf(a);
  const gg = gradsOf(g);
  ga.forEach((v, i) => assert.ok(maxAbsDiff(v, gg[i]) <= 1e-6, `gradient ${i} depends on the padding`));
  lengths.forEach((L, b) => {
    for (let t = L; t < T; t++) for (let i = 0; i < In; i++) assert.equal(gg[0][(b * T + t) * In + i], 0, `dx at padding b=${b} t=${t}`);
  });
  // T = 1 and a unidirectional LSTM.
  const uni = createBiLstm({ inputSize: In, hidden: H, bidirectional: false }, new Rng(2));
  tf.tidy(() => {
    const x1 = tf.tensor3d(xs[0].slice(0, In), [1, 1, In]);
    assert.deepEqual(m.run(x1, [1]).outputs!.shape, [1, 1, 2 * H]);
    const r = uni.run(x1, [1]);
    assert.deepEqual(r.outputs!.shape, [1, 1, H]);
    assert.ok(maxAbsDiff(r.final!.dataSync(), m.run(x1, [1]).final!.dataSync().slice(0, H)) <= 1e-7);
  });
  tf.dispose([a, g]);
  m.dispose();
  uni.dispose();
  assert.equal(tf.memory().numTensors, before);
}

test('BiLSTM masking: alone = padded in a batch, padding never leaks (outputs or gradients), T = 1, cpu', () => maskingChecks('cpu'));
test('BiLSTM masking: alone = padded in a batch, padding never leaks (outputs or gradients), T = 1, wasm', () => maskingChecks('wasm'));
test('BiLSTM masking: alone = padded in a batch, padding never leaks (outputs or gradients), T = 1, native (the recurrence kernel)', NATIVE, () =>
  maskingChecks('native'),
);

test('BiLSTM: tf.layers.bidirectional(lstm) with the copied weights computes the same function (the comparison bench is fair)', async () => {
  await use('cpu');
  const rng = new Rng(4);
  const m = createBiLstm({ inputSize: 5, hidden: 6 }, new Rng(8));
  const seq = layersBiLstm(tf, m, true);
  const fin = layersBiLstm(tf, m, false);
  tf.tidy(() => {
    const x = randn(rng, [3, 7, 5]) as tf.Tensor3D;
    const r = m.run(x, [7, 7, 7]);
    assert.ok(maxAbsDiff(r.outputs!.dataSync(), seq.fn(x).dataSync()) <= 1e-5);
    assert.ok(maxAbsDiff(r.final!.dataSync(), fin.fn(x).dataSync()) <= 1e-5);
  });
  seq.dispose();
  fin.dispose();
  m.dispose();
});

test('charBiLstm: final states per word = the reference on each word alone', async () => {
  await use('cpu');
  const enc = createCharBiLstm({ charVocab: 10, embedding: 4, hidden: 3 }, new Rng(1));
  const words = [[1, 2, 3], [4], [5, 6, 7, 8, 9], [0, 0], []];
  tf.tidy(() => {
    const out = enc.apply(words);
    assert.deepEqual(out.shape, [5, 6]);
    assert.ok(
      out.arraySync()[4].every((v) => v === 0),
      'an empty word encodes to zeros',
    );
    const emb = enc.variables['embedding'];
    words.slice(0, 4).forEach((w, n) => {
      const x = tf.reshape(tf.gather(emb, tf.tensor1d(w, 'int32')), [1, w.length, 4]) as tf.Tensor3D;
      const e = referenceBiLstm(x, [w.length], enc.lstm.directions).finals[0];
      assert.ok(maxAbsDiff(out.arraySync()[n], e.arraySync()) <= 1e-5, `word ${n}`);
    });
  });
  // maxChars truncates: a 5-letter word with maxChars 3 encodes as its first 3 letters.
  const short = createCharBiLstm({ charVocab: 10, embedding: 4, hidden: 3, maxChars: 3 }, new Rng(1));
  tf.tidy(() => assert.ok(maxAbsDiff(short.apply([[5, 6, 7, 8, 9]]).dataSync(), enc.apply([[5, 6, 7]]).dataSync()) <= 1e-7));
  short.dispose();
  enc.dispose();
});

for (const stepCost of [Infinity, 0])
  test(`charBiLstm (stepCost ${stepCost}: ${stepCost === 0 ? 'short and long words in two groups' : 'one group'}): repeated words are encoded once; values and gradients equal those of encoding each occurrence`, async () => {
    await use('cpu');
    const enc = createCharBiLstm({ charVocab: 10, embedding: 4, hidden: 3, maxChars: 4, stepCost }, new Rng(1));
    // [1,2,3,4,5] and [1,2,3,4,9] are the same word after truncation to 4 characters.
    const words = [[1, 2, 3], [4], [1, 2, 3], [1, 2, 3, 4, 5], [4], [1, 2, 3, 4, 9], []];
    const weights = tf.tensor2d(
      Array.from({ length: words.length * 6 }, (_, i) => Math.sin(i + 1)),
      [words.length, 6],
    );
    const params = enc.params;
    const batched = tf.variableGrads(() => tf.sum(tf.mul(enc.apply(words), weights)) as tf.Scalar, params);
    // The reference: every occurrence on its own (a batch of one word has nothing to share).
    const alone = tf.variableGrads(() => tf.addN(words.map((w, n) => tf.sum(tf.mul(enc.apply([w]), tf.slice(weights, [n, 0], [1, 6]))))) as tf.Scalar, params);
    close(batched.value.dataSync()[0], alone.value.dataSync()[0], { rtol: 1e-6 }, 'the weighted sum of the encodings');
    for (const p of params) assert.ok(maxAbsDiff(batched.grads[p.name].dataSync(), alone.grads[p.name].dataSync()) <= 1e-5, `gradient of ${p.name}`);
    tf.tidy(() => {
      const out = enc.apply(words).arraySync();
      assert.deepEqual(out[2], out[0]);
      assert.deepEqual(out[5], out[3]);
    });
    tf.dispose([weights, batched.value, alone.value, ...Object.values(batched.grads), ...Object.values(alone.grads)]);
    enc.dispose();
  });

test('lengthSplit: splits where the saved padding outweighs the extra steps, never otherwise', () => {
  assert.equal(lengthSplit([3, 1, 4, 0], 0), 1);
  assert.equal(lengthSplit([3, 1, 4, 0], Infinity), undefined);
  assert.equal(lengthSplit([5, 5, 5], 0), undefined, 'all of one length: nothing to split');
  // 100 words of length 4 and one of 17: a split at 4 saves 100·13 row-steps for 4 extra steps.
  assert.equal(lengthSplit([...new Array<number>(100).fill(4), 17], 150), 4);
  assert.equal(lengthSplit([...new Array<number>(3).fill(4), 17], 150), undefined, 'too few short words to pay for the steps');
});

// ---------------------------------------------------------------------------------------------
// Chunker (char BiLSTM + word and POS embeddings → FC), trained under the CRF log-likelihood.

const CH = { charVocab: 12, wordVocab: 9, posVocab: 4, tags: 5, wordDim: 6 };

function chunkBatch(rng: Rng): ChunkerBatch & { labels: number[][] } {
  const lengths = [4, 2, 3];
  const T = 4;
  const tok = () => Array.from({ length: 1 + rng.int(5) }, () => rng.int(CH.charVocab));
  return {
    lengths,
    T,
    words: lengths.map(() => Array.from({ length: T }, () => rng.int(CH.wordVocab))),
    pos: lengths.map(() => Array.from({ length: T }, () => rng.int(CH.posVocab))),
    chars: lengths.map(() => Array.from({ length: T }, tok)),
    labels: lengths.map((L) => Array.from({ length: L }, () => rng.int(CH.tags))),
  };
}

function chunkerTrainable(rng: Rng): Trainable {
  const wordInit = Array.from({ length: CH.wordVocab }, () => Array.from(normalArray(rng, CH.wordDim, 0.5)));
  const net = createChunker({ ...CH, charEmbedding: 5, charHidden: 4, posDim: 3, hidden: [7], wordInit, wordTrainable: true }, rng);
  const pw0 = randn(rng, [CH.tags, CH.tags], 0.1);
  const pairwise = tf.variable(pw0);
  pw0.dispose();
  const batch = chunkBatch(rng);
  return {
    params: [...net.params, pairwise],
    loss: () =>
      tf.mean(
        chain.loss('log-likelihood', net.apply(batch), pairwise as tf.Tensor as tf.Tensor2D, batch.labels, [...batch.lengths], { validate: false }),
      ) as tf.Scalar,
    dispose: () => {
      net.dispose();
      pairwise.dispose();
    },
  };
}

test('chunker dropout: off outside training; in training a seeded mask on the token features', async () => {
  await use('cpu');
  const before = tf.memory().numTensors;
  const batch = chunkBatch(new Rng(31));
  const plain = createChunker({ ...CH }, new Rng(2));
  const net = createChunker({ ...CH, dropout: 0.5 }, new Rng(2));
  const run = (n: typeof net, training?: Rng) => tf.tidy(() => Array.from(n.apply(batch, training).dataSync()));
  assert.deepEqual(run(net), run(plain), 'without training, dropout changes nothing');
  assert.deepEqual(run(plain, new Rng(9)), run(plain), 'rate 0 drops nothing in training either');
  const a = run(net, new Rng(9));
  assert.deepEqual(run(net, new Rng(9)), a, 'the same seed stream gives the same mask');
  assert.notDeepEqual(a, run(net));
  batch.lengths.forEach((L, b) => {
    for (let t = L; t < 4; t++) for (let k = 0; k < CH.tags; k++) assert.equal(a[(b * 4 + t) * CH.tags + k], 0, 'padding stays 0');
  });
  assert.throws(() => createChunker({ ...CH, dropout: 1 }, new Rng(1)), /dropout must be in \[0, 1\)/);
  [plain, net].forEach((n) => n.dispose());
  assert.equal(tf.memory().numTensors, before);
});

let chunkerCpu: number[] = [];
test('chunker: shapes, padding rows 0, no word-level context, frozen embedding; trains on cpu without leaks', async () => {
  await use('cpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(21);
  const wordInit = normalArray(rng, CH.wordVocab * CH.wordDim, 1);
  const net = createChunker({ ...CH, wordInit, wordTrainable: false }, new Rng(2));
  assert.ok(!net.params.includes(net.variables['word/embedding']), 'a frozen embedding is not a parameter');
  assert.equal(maxAbsDiff(net.variables['word/embedding'].dataSync(), wordInit), 0);
  const batch = chunkBatch(rng);
  const u = tf.tidy(() => net.apply(batch).arraySync());
  assert.equal(u.length, 3);
  assert.equal(u[0].length, 4);
  assert.equal(u[0][0].length, CH.tags);
  batch.lengths.forEach((L, b) => {
    for (let t = L; t < 4; t++)
      assert.ok(
        u[b][t].every((v) => v === 0),
        `padding row b=${b} t=${t}`,
      );
  });
  // Changing one token changes only that token's scores (context comes from the CRF alone).
  const other = { ...batch, words: batch.words.map((r) => [...r]) };
  other.words[0][1] = (other.words[0][1] + 1) % CH.wordVocab;
  const u2 = tf.tidy(() => net.apply(other).arraySync());
  for (let b = 0; b < 3; b++)
    for (let t = 0; t < 4; t++) if (!(b === 0 && t === 1)) assert.ok(maxAbsDiff(u[b][t], u2[b][t]) <= 1e-6, `token b=${b} t=${t} changed`);
  assert.ok(maxAbsDiff(u[0][1], u2[0][1]) > 1e-4);
  // A frozen embedding stays put under training.
  const opt = tf.train.adam(0.01);
  const pw0 = tf.zeros([CH.tags, CH.tags]);
  const pw = tf.variable(pw0);
  pw0.dispose();
  opt.minimize(
    () => tf.mean(chain.loss('log-likelihood', net.apply(batch), pw as tf.Tensor as tf.Tensor2D, batch.labels, [...batch.lengths])) as tf.Scalar,
    false,
    [...net.params, pw],
  );
  assert.equal(maxAbsDiff(net.variables['word/embedding'].dataSync(), wordInit), 0);
  opt.dispose();
  pw.dispose();
  net.dispose();
  assert.equal(tf.memory().numTensors, before);
  chunkerCpu = await train('cpu', chunkerTrainable, 4);
});

test('chunker: wasm training matches cpu step by step (same init, rel ≤ 1e-3)', async (t) => {
  assert.ok(chunkerCpu.length > 0, 'the cpu test did not run');
  assertSameLosses(t, chunkerCpu, await train('wasm', chunkerTrainable, 4), 'chunker');
});

test('chunker: native training (its LSTM recurrence in C) matches cpu step by step (same init, rel ≤ 1e-3)', NATIVE, async (t) => {
  assert.ok(chunkerCpu.length > 0, 'the cpu test did not run');
  assertSameLosses(t, chunkerCpu, await train('native', chunkerTrainable, 4), 'chunker', 'native');
});

// ---------------------------------------------------------------------------------------------
// U-net.

function unetTrainable(rng: Rng): Trainable {
  const net = createUNet({ inChannels: 3, outChannels: 2, channels: [4, 8] }, rng);
  const x = tf.tidy(() => randn(rng, [2, 8, 8, 3])) as tf.Tensor4D;
  const y = tf.tidy(() =>
    tf.reshape(
      tf.oneHot(
        tf.tensor1d(
          Int32Array.from({ length: 128 }, () => rng.int(2)),
          'int32',
        ),
        2,
      ),
      [2, 8, 8, 2],
    ),
  );
  return {
    params: net.params,
    loss: () => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(net.apply(x))), -1))) as tf.Scalar,
    dispose: () => {
      net.dispose();
      tf.dispose([x, y]);
    },
  };
}

let unetCpu: number[] = [];
test('U-net: shapes (non-square too), size checks, FLOPs, gradients on non-square input; trains on cpu without leaks', async () => {
  await use('cpu');
  const before = tf.memory().numTensors;
  const net = createUNet({ inChannels: 1, outChannels: 3, channels: [2, 4, 6] }, new Rng(1));
  tf.tidy(() => {
    assert.deepEqual(net.apply(tf.zeros([2, 8, 16, 1])).shape, [2, 8, 16, 3]);
    assert.throws(() => net.apply(tf.zeros([1, 6, 8, 1])), /divisible by 2\^2/);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(net.apply(tf.ones([1, 4, 8, 1])))) as tf.Scalar, net.params);
    for (const p of net.params) assert.deepEqual(grads[p.name].shape, p.shape);
  });
  net.dispose();
  const std = createUNet({}, new Rng(1));
  // 16-32-64 on 8 × 64×64×3, by hand: 200,933,376 FLOPs per image (encoder 79.0M, up-convs 8.4M, decoder 113.2M, 1×1 output 0.26M).
  assert.equal(std.flops([8, 64, 64]), 8 * 200_933_376);
  std.dispose();
  assert.equal(tf.memory().numTensors, before);
  unetCpu = await train('cpu', unetTrainable, 3);
});

test('U-net: wasm training matches cpu step by step (same init, rel ≤ 1e-3)', async (t) => {
  assert.ok(unetCpu.length > 0, 'the cpu test did not run');
  assertSameLosses(t, unetCpu, await train('wasm', unetTrainable, 3), 'U-net');
});

test('U-net: native training matches cpu step by step (same init, rel ≤ 1e-3)', NATIVE, async (t) => {
  assert.ok(unetCpu.length > 0, 'the cpu test did not run');
  assertSameLosses(t, unetCpu, await train('native', unetTrainable, 3), 'U-net', 'native');
});

// ---------------------------------------------------------------------------------------------
// The benchmark entries.

test('MODEL_BENCHES: the expected entries; each runs training steps on wasm with a finite loss and no leak', async () => {
  assert.deepEqual(Object.keys(MODEL_BENCHES).sort(), ['bilstm-crf', 'bilstm-layers', 'lenet', 'lenet-crf', 'lenet5-crf', 'matmul', 'unet']);
  await use('wasm');
  const before = tf.memory().numTensors;
  for (const [name, make] of Object.entries(MODEL_BENCHES)) {
    const bench = make(tf, new Rng(0));
    const l1 = bench.step();
    const l2 = bench.step();
    assert.ok(Number.isFinite(l1) && Number.isFinite(l2), `${name}: losses ${l1}, ${l2}`);
    assert.ok(bench.flopsPerStep === undefined || bench.flopsPerStep > 0);
    bench.dispose();
    assert.equal(tf.memory().numTensors, before, `${name}: leak`);
  }
});
