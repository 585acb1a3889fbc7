import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { needs } from './helpers.js';
import { selectBackend, backendFromEnv } from '../src/backend/select.js';
import { installedVersion } from '../src/util/versions.js';

describe('back-end selection', () => {
  it(
    'auto passes over tfjs-node when its native addon is absent and says why, and picks blas (the addon is built)',
    needs('blas', 'test/backend.test.ts (blas):'),
    async () => {
      const b = await selectBackend('auto');
      if (installedVersion('@tensorflow/tfjs-node') === null && installedVersion('@tensorflow/tfjs-node-gpu') === null) {
        assert.equal(b.name, 'blas');
        assert.match(b.reason, /@tensorflow\/tfjs-node-gpu is not installed/);
        assert.match(b.reason, /@tensorflow\/tfjs-node is not installed/);
        assert.match(b.reason, /OpenBLAS kernels registered/);
      }
      assert.equal(b.tf.getBackend(), b.name === 'blas' ? 'wasm' : b.name);
      // The active back end computes.
      assert.deepEqual(Array.from(b.tf.add(b.tf.tensor1d([1, 2]), 1).dataSync()), [2, 3]);
    },
  );

  it('an explicit choice is honoured or refused, never silently replaced', needs('blas', 'test/backend.test.ts (blas):'), async () => {
    const cpu = await selectBackend('cpu');
    assert.equal(cpu.name, 'cpu');
    assert.equal(cpu.tf.getBackend(), 'cpu');
    const wasm = await selectBackend('wasm');
    assert.equal(wasm.tf.getBackend(), 'wasm');
    assert.doesNotMatch(wasm.reason, /OpenBLAS/);
    const blas = await selectBackend('blas');
    assert.equal(blas.name, 'blas');
    assert.equal(blas.tf.getBackend(), 'wasm');
    if (installedVersion('@tensorflow/tfjs-node') === null && installedVersion('@tensorflow/tfjs-node-gpu') === null) {
      await assert.rejects(selectBackend('tensorflow'), /backend 'tensorflow' is not available: .*not installed.*Use --backend blas or wasm/);
    }
  });

  it('auto falls back to wasm when the blas addon is not built, and says so; an explicit blas is refused before any cell', async () => {
    const { spawnSync } = await import('node:child_process');
    const code = `import('${new URL('../src/backend/select.ts', import.meta.url).href}').then(async (m) => { const b = await m.selectBackend('auto'); console.log(b.name + ' | ' + b.reason); console.log(m.backendUnavailable('blas')); })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      encoding: 'utf8',
      env: { ...process.env, SPS_BLAS_ADDON: '/nonexistent/sps_blas.node' },
    });
    assert.equal(r.status, 0, r.stderr);
    const [pick, refusal] = r.stdout.trim().split('\n');
    assert.match(
      pick,
      /^(wasm|tensorflow) \| .*sps's BLAS addon is not built \(\/nonexistent\/sps_blas.node is missing\): build it with `bash scripts\/build-blas.sh`/,
    );
    assert.match(refusal, /^backend 'blas' is not available: sps's BLAS addon is not built/);
  });

  it('the back end sps run announces is found without TensorFlow: an explicit choice as is, auto by which addons are there', () => {
    const code = "import { expectedBackend } from './src/backend/select.ts'; console.log(JSON.stringify([expectedBackend('wasm'), expectedBackend('auto')]));";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      encoding: 'utf8',
      env: { ...process.env, SPS_BLAS_ADDON: '/nonexistent/sps_blas.node' },
    });
    assert.equal(r.status, 0, r.stderr);
    const [wasm, auto] = JSON.parse(r.stdout) as { name: string; why: string }[];
    assert.deepEqual(wasm, { name: 'wasm', why: 'requested' });
    if (installedVersion('@tensorflow/tfjs-node') === null && installedVersion('@tensorflow/tfjs-node-gpu') === null) {
      assert.equal(auto.name, 'wasm');
      assert.match(auto.why, /BLAS addon is not built.*`npm run build:blas` builds it/);
    }
  });

  it('SPS_BACKEND is validated', () => {
    const old = process.env.SPS_BACKEND;
    try {
      process.env.SPS_BACKEND = 'gpu';
      assert.throws(() => backendFromEnv(), /SPS_BACKEND=gpu: expected one of auto, tensorflow, blas, wasm, cpu/);
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
