import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { gridSearch, norm, offlineNormalize, offlineNormalizeEmbeddings, regulariser, scaleUnary, SCALING_EPSILON, type NormKind } from '../src/crf/scaling.js';
import { Rng } from '../src/util/rng.js';
import { close, describeOnBackends } from './helpers.js';

const KINDS: NormKind[] = ['frobenius', 'rms', 'max'];

function values(t: tf.Tensor): number[] {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

describeOnBackends('scaling', () => {
  describe('norm', () => {
    // Example 0: [[3, 4], [0, 0]] ; example 1: [[1, -2], [2, 0]].
    const x = () =>
      tf.tensor3d([
        [
          [3, 4],
          [0, 0],
        ],
        [
          [1, -2],
          [2, 0],
        ],
      ]);

    it('hand-computed values over the batch and per example', () => {
      // Σx² = 25 + 9 = 34 over 8 entries.
      close(values(norm(x(), 'frobenius')), [Math.sqrt(34)], { rtol: 1e-6, atol: 1e-6 }, 'fro batch');
      close(values(norm(x(), 'rms')), [Math.sqrt(34 / 8)], { rtol: 1e-6, atol: 1e-6 }, 'rms batch');
      close(values(norm(x(), 'max')), [4], { rtol: 0, atol: 0 }, 'max batch');
      close(values(norm(x(), 'frobenius', { perExample: true })), [5, 3], { rtol: 1e-6, atol: 1e-6 }, 'fro per example');
      close(values(norm(x(), 'rms', { perExample: true })), [2.5, 1.5], { rtol: 1e-6, atol: 1e-6 }, 'rms per example');
      close(values(norm(x(), 'max', { perExample: true })), [4, 2], { rtol: 0, atol: 0 }, 'max per example');
    });

    it('masked entries do not count (same-shape and broadcast masks)', () => {
      // Mask the second row of each example: only [3, 4] and [1, -2] count.
      const rowMask = tf.tensor3d([
        [[1], [0]],
        [[1], [0]],
      ]); // [B, L, 1] broadcast over K
      close(values(norm(x(), 'frobenius', { mask: rowMask })), [Math.sqrt(30)], { rtol: 1e-6, atol: 1e-6 }, 'fro');
      close(values(norm(x(), 'rms', { mask: rowMask })), [Math.sqrt(30 / 4)], { rtol: 1e-6, atol: 1e-6 }, 'rms counts only the 4 valid entries');
      close(values(norm(x(), 'max', { mask: rowMask })), [4], { rtol: 0, atol: 0 }, 'max');
      close(values(norm(x(), 'frobenius', { mask: rowMask, perExample: true })), [5, Math.sqrt(5)], { rtol: 1e-6, atol: 1e-6 }, 'fro/ex');
      close(values(norm(x(), 'rms', { mask: rowMask, perExample: true })), [Math.sqrt(12.5), Math.sqrt(2.5)], { rtol: 1e-6, atol: 1e-6 }, 'rms/ex');
      close(values(norm(x(), 'max', { mask: rowMask, perExample: true })), [4, 2], { rtol: 0, atol: 0 }, 'max/ex');
      // A same-shape mask that hides the 4: max drops to 3.
      const full = tf.tensor3d([
        [
          [1, 0],
          [1, 1],
        ],
        [
          [1, 1],
          [1, 1],
        ],
      ]);
      close(values(norm(x(), 'max', { mask: full, perExample: true })), [3, 2], { rtol: 0, atol: 0 }, 'max with the 4 masked');
      close(values(norm(x(), 'rms', { mask: full, perExample: true })), [Math.sqrt(9 / 3), 1.5], { rtol: 1e-6, atol: 1e-6 }, 'rms with 3 valid');
      // A fully masked example has norm 0 (not NaN).
      const none = tf.tensor3d([
        [[0], [0]],
        [[1], [1]],
      ]);
      for (const kind of KINDS) {
        const v = values(norm(x(), kind, { mask: none, perExample: true }));
        assert.ok(v[0] < 1e-12 && v[0] >= 0, `${kind}: fully masked example → ${v[0]}`);
      }
    });

    it('is differentiable: gradients match finite differences, and are finite at 0', () => {
      const rng = new Rng('norm-grad');
      const data = Array.from({ length: 12 }, () => rng.normal());
      const maskData = [1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1];
      const ref = (kind: NormKind, v: number[]): number => {
        const valid = v.filter((_, i) => maskData[i] === 1);
        if (kind === 'frobenius') return Math.hypot(...valid);
        if (kind === 'rms') return Math.hypot(...valid) / Math.sqrt(valid.length);
        return Math.max(...valid.map(Math.abs));
      };
      for (const kind of KINDS) {
        const g = values(tf.grad((t: tf.Tensor) => norm(t, kind, { mask: tf.tensor2d(maskData, [3, 4]) }))(tf.tensor2d(data, [3, 4])));
        const h = 1e-6;
        const fd = data.map((_, i) => {
          const p = [...data];
          const m = [...data];
          p[i] += h;
          m[i] -= h;
          return (ref(kind, p) - ref(kind, m)) / (2 * h);
        });
        close(g, fd, { rtol: 1e-3, atol: 1e-3 }, `∂${kind}`);
      }
      for (const kind of KINDS) {
        const g = values(tf.grad((t: tf.Tensor) => norm(t, kind))(tf.zeros([2, 3])));
        assert.ok(
          g.every((v) => Number.isFinite(v)),
          `${kind}: gradient at 0 is ${g}`,
        );
      }
    });

    it('rejects bad kinds and masks that do not broadcast', () => {
      assert.throws(() => norm(tf.zeros([2, 3]), 'l1' as NormKind), /norm kind must be one of frobenius, rms, max, got 'l1'/);
      assert.throws(() => norm(tf.zeros([2, 3]), 'rms', { mask: tf.ones([2]) }), /mask of shape \[2\] does not broadcast to the shape \[2, 3\]/);
      assert.throws(() => norm(tf.zeros([2, 3]), 'rms', { mask: tf.ones([4, 2, 3]) }), /does not broadcast/);
    });
  });

  describe('online and offline scaling', () => {
    it('scaleUnary multiplies by α', () => {
      close(values(scaleUnary(tf.tensor1d([1, -2]), 2.5)), [2.5, -5], { rtol: 1e-6, atol: 1e-6 });
      assert.throws(() => scaleUnary(tf.tensor1d([1]), NaN), /alpha must be a finite number/);
    });

    it('offlineNormalize gives ‖Û‖ = α and ‖Ŵ‖ = 1 for every norm, per example and per batch', () => {
      const rng = new Rng('offline');
      const B = 3;
      const T = 5;
      const K = 4;
      const U = tf.tensor3d(Array.from({ length: B }, (_, b) => Array.from({ length: T }, () => Array.from({ length: K }, () => (b + 1) * 3 * rng.normal()))));
      const W = tf.tensor2d(Array.from({ length: K }, () => Array.from({ length: K }, () => 7 * rng.normal())));
      // Sequence lengths 5, 3, 1: positions beyond are padding (filled with large garbage values).
      const lengths = [5, 3, 1];
      const mask = tf.tensor3d(lengths.map((n) => Array.from({ length: T }, (_, t) => [t < n ? 1 : 0])));
      const Upad = tf.tidy(() => tf.add(U, tf.mul(tf.sub(1, mask), 100)));
      for (const kind of KINDS) {
        for (const over of ['example', 'batch'] as const) {
          const r = offlineNormalize(Upad, W, { alpha: 3, kind, over, mask });
          const perExample = over === 'example';
          const nU = values(norm(r.unary, kind, { mask, perExample }));
          close(
            nU,
            nU.map(() => 3),
            { rtol: 1e-5, atol: 1e-5 },
            `‖Û‖ ${kind} ${over}`,
          );
          close(values(norm(r.pairwise, kind)), [1], { rtol: 1e-5, atol: 1e-5 }, `‖Ŵ‖ ${kind} ${over}`);
          tf.dispose([r.unary, r.pairwise]);
        }
      }
      // Per-example pairwise matrices ([B, K, K]) are normalised per example when asked.
      const Wb = tf.tensor3d(Array.from({ length: B }, (_, b) => Array.from({ length: K }, () => Array.from({ length: K }, () => (b + 1) * rng.normal()))));
      const r = offlineNormalize(U, Wb, { alpha: 1, kind: 'frobenius', over: 'example', pairwiseBatched: true });
      close(values(norm(r.pairwise, 'frobenius', { perExample: true })), [1, 1, 1], { rtol: 1e-5, atol: 1e-5 }, 'batched W');
      assert.throws(() => offlineNormalize(U, W, { alpha: 0, kind: 'rms', over: 'batch' }), /alpha must be a finite number > 0/);
      assert.throws(() => offlineNormalize(U, W, { alpha: 1, kind: 'rms', over: 'sequence' as never }), /'over' must be one of example, batch/);
    });

    it('ε keeps an all-zero input finite', () => {
      const r = offlineNormalize(tf.zeros([2, 3]), tf.zeros([3, 3]), { alpha: 1, kind: 'frobenius', over: 'example' });
      assert.ok(values(r.unary).every((v) => v === 0));
      assert.ok(values(r.pairwise).every((v) => v === 0));
    });

    it('offlineNormalizeEmbeddings divides A by √(‖W‖ + ε) (W is quadratic in A)', () => {
      const A = tf.ones([2, 3, 2]);
      close(
        values(offlineNormalizeEmbeddings(A, tf.tensor1d([4, 16]))),
        [...Array(6).fill(1 / Math.sqrt(4 + SCALING_EPSILON)), ...Array(6).fill(1 / Math.sqrt(16 + SCALING_EPSILON))],
        { rtol: 1e-6, atol: 1e-6 },
      );
      close(values(offlineNormalizeEmbeddings(A, tf.scalar(9))), Array(12).fill(1 / 3), { rtol: 1e-6, atol: 1e-6 });
      assert.throws(() => offlineNormalizeEmbeddings(A, tf.ones([3])), /normW must be a scalar or of shape \[B\] = \[2\], got \[3\]/);
    });
  });

  describe('regulariser', () => {
    it('value λ·mean((‖U‖/‖W‖ − α)²) and its gradient match finite differences', () => {
      const nU = [2, 5, 0.5];
      const nW = 2;
      const alpha = 1.5;
      const lambda = 0.3;
      const ref = (u: number[], w: number): number => (lambda * u.reduce((s, x) => s + (x / (w + SCALING_EPSILON) - alpha) ** 2, 0)) / u.length;
      close(values(regulariser(tf.tensor1d(nU), tf.scalar(nW), alpha, lambda)), [ref(nU, nW)], { rtol: 1e-6, atol: 1e-6 }, 'value');
      // Scalar norms (over = batch).
      close(values(regulariser(tf.scalar(3), tf.scalar(1), 1, 2)), [2 * (3 / (1 + SCALING_EPSILON) - 1) ** 2], { rtol: 1e-6, atol: 1e-6 }, 'scalar');
      const [gU, gW] = tf.grads((u: tf.Tensor, w: tf.Tensor) => regulariser(u, w, alpha, lambda))([tf.tensor1d(nU), tf.scalar(nW)]);
      const h = 1e-6;
      const fdU = nU.map((_, i) => {
        const p = [...nU];
        const m = [...nU];
        p[i] += h;
        m[i] -= h;
        return (ref(p, nW) - ref(m, nW)) / (2 * h);
      });
      const fdW = (ref(nU, nW + h) - ref(nU, nW - h)) / (2 * h);
      close(values(gU), fdU, { rtol: 1e-4, atol: 1e-4 }, '∂R/∂‖U‖');
      close(values(gW), [fdW], { rtol: 1e-4, atol: 1e-4 }, '∂R/∂‖W‖');
      // Per-example normW.
      close(values(regulariser(tf.tensor1d([1, 4]), tf.tensor1d([1, 2]), 1, 1)), [(0 + 1) / 2], { rtol: 1e-5, atol: 1e-5 }, 'per-example W');
    });

    it('rejects bad arguments', () => {
      assert.throws(() => regulariser(tf.scalar(1), tf.scalar(1), 1, -1), /lambda must be a finite number >= 0/);
      assert.throws(() => regulariser(tf.scalar(1), tf.scalar(1), 0, 1), /alpha must be a finite number > 0/);
      assert.throws(() => regulariser(tf.ones([2]), tf.ones([3]), 1, 1), /must have the same batch size/);
      assert.throws(() => regulariser(tf.ones([2, 2]), tf.ones([2]), 1, 1), /normU must be a scalar or of shape \[B\]/);
    });
  });

  describe('gridSearch', () => {
    it('evaluates every grid point in order and returns the minimum and the curve', async () => {
      const seen: number[] = [];
      const r = await gridSearch(
        (a) => {
          seen.push(a);
          return (Math.log(a) - Math.log(2)) ** 2;
        },
        [0.1, 0.5, 1, 2, 5, 10],
      );
      assert.deepEqual(seen, [0.1, 0.5, 1, 2, 5, 10]);
      assert.equal(r.best, 2);
      assert.equal(r.bestLoss, 0);
      assert.deepEqual(
        r.curve.map((c) => c.alpha),
        [0.1, 0.5, 1, 2, 5, 10],
      );
    });

    it('ties go to the first minimum in grid order', async () => {
      assert.equal((await gridSearch((a) => (a === 1 ? 3 : 1), [5, 1, 0.2])).best, 5);
      assert.equal((await gridSearch(() => 7, [2, 1, 0.5])).best, 2);
    });

    it('non-finite losses are recorded, never chosen; all non-finite is an error', async () => {
      const r = await gridSearch((a) => (a > 1 ? NaN : a < 0.5 ? Infinity : 10 - a), [0.1, 0.5, 1, 2]);
      assert.equal(r.best, 1);
      assert.ok(Number.isNaN(r.curve[3].loss));
      assert.equal(r.curve[0].loss, Infinity);
      await assert.rejects(
        gridSearch(() => NaN, [1, 2]),
        /the loss is non-finite at every alpha \(1: NaN, 2: NaN\)/,
      );
      await assert.rejects(
        gridSearch(() => -Infinity, [1]),
        /non-finite at every alpha/,
      );
    });

    it('accepts an async loss and evaluates sequentially', async () => {
      let running = 0;
      let maxRunning = 0;
      const r = await gridSearch(
        async (a) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await new Promise((res) => setTimeout(res, 2));
          running--;
          return Math.abs(a - 0.5);
        },
        [1, 0.5, 0.2],
      );
      assert.equal(r.best, 0.5);
      assert.equal(maxRunning, 1);
    });

    it('rejects an empty grid and non-finite grid values', async () => {
      await assert.rejects(
        gridSearch(() => 1, []),
        /the alpha grid is empty/,
      );
      await assert.rejects(
        gridSearch(() => 1, [1, NaN]),
        /grid values must be finite numbers/,
      );
      await assert.rejects(
        gridSearch(() => 'x' as unknown as number, [1]),
        /must return a number/,
      );
    });
  });

  describe('scaling: memory', () => {
    it('no tensor leaks', () => {
      const U = tf.randomNormal([2, 3, 4]);
      const W = tf.randomNormal([4, 4]);
      const mask = tf.ones([2, 3, 1]);
      const start = tf.memory().numTensors;
      for (const kind of KINDS) tf.dispose([norm(U, kind, { mask, perExample: true }), norm(U, kind)]);
      const r = offlineNormalize(U, W, { alpha: 2, kind: 'rms', over: 'example', mask });
      tf.dispose([r.unary, r.pairwise]);
      tf.dispose(tf.grads((u: tf.Tensor, w: tf.Tensor) => regulariser(norm(u, 'frobenius', { perExample: true }), norm(w, 'frobenius'), 1, 0.1))([U, W]));
      assert.equal(tf.memory().numTensors, start);
    });
  });
});
