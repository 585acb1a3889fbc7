import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { needs } from './helpers.js';
import { selectBackend, backendFromEnv, expectedBackend } from '../src/backend/select.js';
import { installedVersion } from '../src/util/versions.js';

describe('back-end selection', () => {
  it(
    'auto passes over tfjs-node when its native addon is absent and says why, and picks native (the addon is built)',
    needs('native', 'test/backend.test.ts (native):'),
    async () => {
      const b = await selectBackend('auto');
      if (installedVersion('@tensorflow/tfjs-node') === null && installedVersion('@tensorflow/tfjs-node-gpu') === null) {
        assert.equal(b.name, 'native');
        assert.match(b.reason, /@tensorflow\/tfjs-node-gpu is not installed/);
        assert.match(b.reason, /@tensorflow\/tfjs-node is not installed/);
        assert.match(b.reason, /native kernels registered \(\d+, OpenBLAS core/);
      }
      assert.equal(b.tf.getBackend(), b.name === 'native' ? 'wasm' : b.name);
      // The active back end computes.
      assert.deepEqual(Array.from(b.tf.add(b.tf.tensor1d([1, 2]), 1).dataSync()), [2, 3]);
    },
  );

  it('an explicit choice is honoured or refused, never silently replaced', needs('native', 'test/backend.test.ts (native):'), async () => {
    const cpu = await selectBackend('cpu');
    assert.equal(cpu.name, 'cpu');
    assert.equal(cpu.tf.getBackend(), 'cpu');
    const wasm = await selectBackend('wasm');
    assert.equal(wasm.tf.getBackend(), 'wasm');
    assert.doesNotMatch(wasm.reason, /OpenBLAS/);
    const native = await selectBackend('native');
    assert.equal(native.name, 'native');
    assert.equal(native.tf.getBackend(), 'wasm');
    assert.match(native.reason, /native kernels registered/);
    // The back end's former name selects it and is reported by its one name.
    const blas = await selectBackend('blas');
    assert.equal(blas.name, 'native');
    assert.equal(blas.tf.getBackend(), 'wasm');
    assert.match(blas.reason, /native kernels registered/);
    if (installedVersion('@tensorflow/tfjs-node') === null && installedVersion('@tensorflow/tfjs-node-gpu') === null) {
      await assert.rejects(selectBackend('tensorflow'), /backend 'tensorflow' is not available: .*not installed.*Use --backend native or wasm/);
    }
  });

  it('auto falls back to wasm when the native addon is not built, and says so; an explicit native (or blas) is refused before any cell', async () => {
    const { spawnSync } = await import('node:child_process');
    const code = `import('${new URL('../src/backend/select.ts', import.meta.url).href}').then(async (m) => { const b = await m.selectBackend('auto'); console.log(b.name + ' | ' + b.reason); console.log(m.backendUnavailable('native')); console.log(m.backendUnavailable('blas')); })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      encoding: 'utf8',
      env: { ...process.env, SPS_BLAS_ADDON: '/nonexistent/sps_blas.node' },
    });
    assert.equal(r.status, 0, r.stderr);
    const [pick, refusal, aliasRefusal] = r.stdout.trim().split('\n');
    assert.match(
      pick,
      /^(wasm|tensorflow) \| .*sps's native addon is not built \(\/nonexistent\/sps_blas.node is missing\): build it with `bash scripts\/build-native.sh`/,
    );
    assert.match(refusal, /^backend 'native' is not available: sps's native addon is not built/);
    assert.equal(aliasRefusal, refusal);
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
      assert.match(auto.why, /native addon is not built.*`npm run build:native` builds it/);
    }
  });

  it('SPS_BACKEND is validated', () => {
    const old = process.env.SPS_BACKEND;
    try {
      process.env.SPS_BACKEND = 'gpu';
      assert.throws(() => backendFromEnv(), /SPS_BACKEND=gpu: expected one of auto, tensorflow, native, wasm, cpu, blas/);
      process.env.SPS_BACKEND = 'cpu';
      assert.equal(backendFromEnv(), 'cpu');
      // The former name is accepted, kept as written (as in a config) and selects the native back end.
      process.env.SPS_BACKEND = 'blas';
      assert.equal(backendFromEnv(), 'blas');
      assert.deepEqual(expectedBackend(backendFromEnv()!), { name: 'native', why: 'requested' });
      process.env.SPS_BACKEND = '';
      assert.equal(backendFromEnv(), undefined);
    } finally {
      if (old === undefined) delete process.env.SPS_BACKEND;
      else process.env.SPS_BACKEND = old;
    }
  });
});
