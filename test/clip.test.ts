/**
 * src/train/clip.ts, global-norm clipping: on cpu and wasm the weights after clipped steps are those of
 * the composite formula it replaced (tf.sqrt(tf.addN(Σ g²)), tf.minimum, tf.mul), to the bit, for Adam
 * and SGD, with and without clipping taking effect; on native the squared norm is one kernel and the
 * factor is applied inside the fused Adam, which equals Adam on tf.mul(g, factor) to the bit and the
 * composite within float32 rounding.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { FusedAdam, adam } from '../src/train/adam.js';
import { applyClipped, clipFactor } from '../src/train/clip.js';
import { needs } from './helpers.js';
import { rand, relErr } from './kernel-helpers.js';

const SHAPES = [[7, 5], [5], [1], [3, 2, 2]];
const INIT = SHAPES.map((s) => rand(s.reduce((a, b) => a * b, 1)));
const X = rand(4 * 7);

/** The clipping sps had before src/train/clip.ts: the reference. */
function compositeClip(grads: tf.NamedTensorMap, maxNorm: number): tf.NamedTensorMap {
  const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
  const factor = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-12)));
  return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, factor)]));
}

/** Weights after `steps` clipped steps of `opt` on a small least-squares problem, with `apply` doing the step. */
function train(opt: tf.Optimizer, steps: number, apply: (opt: tf.Optimizer, grads: tf.NamedTensorMap) => void): Float32Array[] {
  const tag = `${Math.random()}`;
  const vars = INIT.map((v, i) => tf.tidy(() => tf.variable(tf.tensor(v, SHAPES[i]), true, `clip${i}_${tag}`)));
  const x = tf.tensor2d(X, [4, 7]);
  for (let s = 0; s < steps; s++)
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => {
        const y = tf.add(tf.matMul(x, vars[0]), vars[1]);
        return tf.add(tf.sum(tf.square(tf.mul(y, vars[2]))), tf.sum(tf.square(vars[3]))) as tf.Scalar;
      });
      apply(opt, grads);
    });
  const out = vars.map((v) => v.dataSync() as Float32Array);
  tf.dispose([...vars, x]);
  opt.dispose();
  return out;
}

const viaClip = (maxNorm: number | null) => (opt: tf.Optimizer, grads: tf.NamedTensorMap) => applyClipped(opt, grads, maxNorm);
const viaComposite = (maxNorm: number) => (opt: tf.Optimizer, grads: tf.NamedTensorMap) => opt.applyGradients(compositeClip(grads, maxNorm));

// The gradient norm of this problem starts near 25 and falls below 2 after 11 steps (Adam at 3e-2): 2 clips
// those 11 steps only, 0.5 at least as many, 50 none.
const MAX_NORMS = [0.5, 2, 50];

describe('clipping on cpu and wasm: the composite formula to the bit', () => {
  for (const backend of ['cpu', 'wasm'] as const)
    it(`${backend}: Adam and SGD, clipping every step, some steps and none`, async () => {
      await selectBackend(backend);
      for (const maxNorm of MAX_NORMS)
        for (const [name, make] of [
          ['adam', () => adam(3e-2)],
          ['sgd', () => tf.train.sgd(1e-2)],
        ] as const) {
          const before = tf.memory().numTensors;
          const got = train(make(), 20, viaClip(maxNorm));
          assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
          const want = train(make(), 20, viaComposite(maxNorm));
          got.forEach((w, i) => assert.deepEqual(Array.from(w), Array.from(want[i]), `${name}, max norm ${maxNorm}, variable ${i}`));
        }
      const unclipped = train(adam(3e-2), 20, viaClip(null));
      const plain = train(adam(3e-2), 20, (opt, grads) => opt.applyGradients(grads));
      unclipped.forEach((w, i) => assert.deepEqual(Array.from(w), Array.from(plain[i]), `no clipping, variable ${i}`));
    });

  it('the factor: 1 below the threshold, c / ‖g‖ above it, as a float32 value', async () => {
    await selectBackend('cpu');
    tf.tidy(() => {
      const grads = [tf.tensor([3, 0]), tf.tensor([[4]])];
      assert.equal(clipFactor(grads, 10), 1);
      assert.equal(clipFactor(grads, 1), Math.fround(1 / 5));
      assert.equal(clipFactor(grads, 5), 1);
    });
  });
});

describe('clipping on native: one norm kernel, the factor inside the fused Adam', needs('native', 'test/clip.test.ts (native):'), () => {
  it('FusedAdam.applyScaledGradients(g, s) equals FusedAdam on tf.mul(g, s) to the bit', async () => {
    await selectBackend('native');
    for (const s of [1, 0.37, Math.fround(1 / 3)]) {
      const scaled = train(new FusedAdam(3e-2), 15, (opt, grads) => (opt as FusedAdam).applyScaledGradients(grads, s));
      const multiplied = train(new FusedAdam(3e-2), 15, (opt, grads) =>
        opt.applyGradients(Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, s)]))),
      );
      scaled.forEach((w, i) => assert.deepEqual(Array.from(w), Array.from(multiplied[i]), `scale ${s}, variable ${i}`));
    }
  });

  it('applyClipped matches the composite formula within float32 rounding, and leaves no tensor behind', async () => {
    await selectBackend('native');
    for (const maxNorm of MAX_NORMS) {
      const before = tf.memory().numTensors;
      const got = train(adam(3e-2), 20, viaClip(maxNorm));
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      const want = train(adam(3e-2), 20, viaComposite(maxNorm));
      got.forEach((w, i) => {
        const err = relErr(w, want[i]);
        assert.ok(err <= 1e-5, `max norm ${maxNorm}, variable ${i}: relative error ${err.toExponential(2)}`);
      });
      if (maxNorm === 0.5)
        assert.ok(
          got.some((w, i) => w.some((v, j) => v !== INIT[i][j])),
          'the weights moved',
        );
    }
  });
});
