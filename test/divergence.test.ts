import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DivergenceWatch } from '../src/train/divergence.js';

describe('divergence of a finite loss', () => {
  const epoch = (w: DivergenceWatch, n: number, train: number, phase = 'joint') => w.check({ epoch: n, phase, losses: { train } });

  it('warns once above the absolute limit', () => {
    const w = new DivergenceWatch();
    assert.equal(epoch(w, 1, 2.5), undefined);
    assert.match(epoch(w, 2, 2e36) ?? '', /^epoch 2 \(joint\): loss 'train' reached 2e\+36, above 1e\+6: the training diverged/);
    assert.equal(epoch(w, 3, 3e36), undefined, 'each loss of a phase is reported once');
  });

  it('warns on growth by more than 1000 times the first epoch of the phase, but not below 1', () => {
    const w = new DivergenceWatch();
    assert.equal(epoch(w, 1, 0.5), undefined);
    assert.equal(epoch(w, 2, 400), undefined, '800 times: not yet');
    assert.match(epoch(w, 3, 600) ?? '', /loss 'train' reached 600, more than 1000 times its first-epoch value 0\.5/);
    const tiny = new DivergenceWatch();
    assert.equal(epoch(tiny, 1, 1e-5), undefined);
    assert.equal(epoch(tiny, 2, 0.5), undefined, 'a loss below 1 never counts as grown');
  });

  it('compares each phase with its own first epoch and leaves NaN to the run failure', () => {
    const w = new DivergenceWatch();
    assert.equal(epoch(w, 1, 0.01, 'stage1-unary'), undefined);
    assert.equal(epoch(w, 2, 20, 'stage2-pairwise'), undefined);
    assert.equal(epoch(w, 3, 30, 'stage2-pairwise'), undefined);
    assert.equal(epoch(w, 4, NaN, 'stage2-pairwise'), undefined);
  });
});
