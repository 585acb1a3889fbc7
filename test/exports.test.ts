import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';

describe('package exports', () => {
  it('sps/crf resolves to the compiled CRF core and computes', async () => {
    // Self-reference through package.json "exports", exactly as a user's `import ... from 'sps/crf'`.
    const crf = (await import('sps/crf' as string)) as typeof import('../src/crf/index.js');
    const sps = (await import('sps' as string)) as typeof import('../src/index.js');
    assert.equal(typeof crf.chain.logPartition, 'function');
    assert.equal(typeof crf.gaussian.solve, 'function');
    assert.equal(typeof crf.scaling.gridSearch, 'function');
    assert.equal(sps.crf.chain.loss, crf.chain.loss);
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    // K = 2, one position, zero potentials: Z = 2.
    const logZ = crf.chain.logPartition(
      tf.zeros([1, 1, 2]) as import('@tensorflow/tfjs').Tensor3D,
      tf.zeros([2, 2]) as import('@tensorflow/tfjs').Tensor2D,
      [1],
    );
    assert.ok(Math.abs(logZ.dataSync()[0] - Math.log(2)) < 1e-6);
  });

  it('sps/crf owns its types and imports nothing outside src/crf but tfjs', async () => {
    const crf = (await import('sps/crf' as string)) as typeof import('../src/crf/index.js');
    assert.ok(crf.OBJECTIVES.includes('log-likelihood'));
    const dir = new URL('../src/crf/', import.meta.url);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const specs = [...readFileSync(new URL(f, dir), 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
      for (const s of specs) assert.ok(s.startsWith('./') || s.startsWith('@tensorflow/'), `src/crf/${f} imports ${s}`);
    }
  });
});
