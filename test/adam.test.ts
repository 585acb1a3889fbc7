/**
 * src/train/adam.ts: where the back end has the fused Adam kernel (native) the weights after each step
 * are tfjs's AdamOptimizer's to the bit; elsewhere adam() is tfjs's own.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { adam, FusedAdam } from '../src/train/adam.js';
import { needs } from './helpers.js';
import { rand } from './kernel-helpers.js';

/** Weights after `steps` steps of `opt` on a small least-squares problem, from fixed initial values. */
function train(opt: tf.Optimizer, init: Float32Array[], xv: Float32Array, steps: number): Float32Array[] {
  const shapes = [[7, 5], [5], [1], [3, 2, 2]];
  const vars = init.map((v, i) => tf.tidy(() => tf.variable(tf.tensor(v, shapes[i]), true, `w${i}_${opt.getClassName()}_${Math.random()}`)));
  const x = tf.tensor2d(xv, [4, 7]);
  const out: Float32Array[][] = [];
  for (let s = 0; s < steps; s++) {
    opt.minimize(() => {
      const y = tf.add(tf.matMul(x, vars[0]), vars[1]);
      // vars[3] only through a sum: every variable gets a gradient.
      return tf.add(tf.sum(tf.square(tf.mul(y, vars[2]))), tf.sum(tf.square(vars[3]))) as tf.Scalar;
    }, false);
    out.push(vars.map((v) => v.dataSync() as Float32Array));
  }
  tf.dispose([...vars, x]);
  opt.dispose();
  return out[out.length - 1];
}

it(
  'native: FusedAdam gives tfjs AdamOptimizer’s weights to the bit after 25 steps, and adam() picks it',
  needs('native', 'test/adam.test.ts (native):'),
  async () => {
    await selectBackend('native');
    // (instanceof cannot tell: tf.Optimizer's Symbol.hasInstance accepts any object with its methods.)
    const picked = adam(1e-2);
    assert.equal(picked.getClassName(), FusedAdam.className);
    picked.dispose();
    const init = [rand(35), rand(5), Float32Array.of(0.7), rand(12)];
    const xv = rand(4 * 7);
    const before = tf.memory().numTensors;
    const fused = train(new FusedAdam(3e-2), init, xv, 25);
    const reference = train(tf.train.adam(3e-2), init, xv, 25);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    fused.forEach((w, i) => {
      assert.deepEqual(Array.from(w), Array.from(reference[i]), `variable ${i}`);
      assert.ok(
        w.some((v, j) => v !== init[i][j]),
        `variable ${i} moved`,
      );
    });
  },
);

it('cpu and wasm: adam() is tfjs’s AdamOptimizer', async () => {
  for (const b of ['cpu', 'wasm'] as const) {
    await selectBackend(b);
    const opt = adam(1e-3);
    assert.equal(opt.getClassName(), 'Adam', b);
    opt.dispose();
  }
});
