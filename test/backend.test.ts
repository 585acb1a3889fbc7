import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectBackend, backendFromEnv } from '../src/backend/select.js';
import { installedVersion } from '../src/util/versions.js';

describe('back-end selection', () => {
  it('auto passes over tfjs-node when its native addon is absent and says why', async () => {
    const b = await selectBackend('auto');
    if (installedVersion('@tensorflow/tfjs-node') === null && installedVersion('@tensorflow/tfjs-node-gpu') === null) {
      assert.equal(b.name, 'wasm');
      assert.match(b.reason, /@tensorflow\/tfjs-node-gpu is not installed/);
      assert.match(b.reason, /@tensorflow\/tfjs-node is not installed/);
    }
    assert.equal(b.tf.getBackend(), b.name);
    // The active back end computes.
    assert.deepEqual(Array.from(b.tf.add(b.tf.tensor1d([1, 2]), 1).dataSync()), [2, 3]);
  });

  it('an explicit choice is honoured or refused, never silently replaced', async () => {
    const cpu = await selectBackend('cpu');
    assert.equal(cpu.name, 'cpu');
    assert.equal(cpu.tf.getBackend(), 'cpu');
    const wasm = await selectBackend('wasm');
    assert.equal(wasm.tf.getBackend(), 'wasm');
    if (installedVersion('@tensorflow/tfjs-node') === null && installedVersion('@tensorflow/tfjs-node-gpu') === null) {
      await assert.rejects(selectBackend('tensorflow'), /backend 'tensorflow' is not available: .*not installed.*Use --backend wasm/);
    }
  });

  it('SPS_BACKEND is validated', () => {
    const old = process.env.SPS_BACKEND;
    try {
      process.env.SPS_BACKEND = 'gpu';
      assert.throws(() => backendFromEnv(), /SPS_BACKEND=gpu: expected one of auto, tensorflow, wasm, cpu/);
      process.env.SPS_BACKEND = 'cpu';
      assert.equal(backendFromEnv(), 'cpu');
      process.env.SPS_BACKEND = '';
      assert.equal(backendFromEnv(), undefined);
    } finally {
      if (old === undefined) delete process.env.SPS_BACKEND;
      else process.env.SPS_BACKEND = old;
    }
  });
});
