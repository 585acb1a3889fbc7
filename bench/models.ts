/**
 * Training-step benchmarks of the task networks, timed by scripts/bench.ts (`npm run bench -- models`).
 * Lives outside src/ so it is not compiled into the published package.
 *
 * Each entry builds its model and a fixed random batch from the given Rng, and returns `step()`:
 * one full training step — forward, backward, Adam update (lr 1e-3), loss read back with dataSync —
 * returning the loss. `flopsPerStep` ≈ 3 × the forward FLOPs of the model's matMuls and convolutions
 * (backward ≈ 2 × forward: one product for the input gradient and one for the weight gradient per
 * layer; it over-counts slightly because the first layer needs no input gradient, and it ignores
 * elementwise ops, pooling, the CRF recursions and Adam). For the fused BiLSTM the figure counts the
 * model's FLOPs, not the zero blocks the block-diagonal recurrent matMul also multiplies.
 *
 * Entries (sizes from the project's "Fast training on CPU" bench table):
 * - `lenet`:        LeNet 20-50-500 on [64, 16, 8, 1], softmax cross-entropy over 26 classes.
 * - `lenet-crf`:    LeNet 20-50-500 on 128 letters = 16 words × 8 letters + linear-chain CRF
 *                   log-likelihood (chain.loss, trainable 26×26 pairwise).
 * - `lenet5-crf`:   the same with classic LeNet-5 sizes (6-16-120-84).
 * - `matmul`:       loss = Σ A·B for 256×256 variables A, B.
 * - `bilstm-crf`:   char BiLSTM(25) over 8 chars per word (char embedding 25) ⊕ word embedding 50
 *                   (vocabulary 1000) → word BiLSTM(100) → linear 23 → CRF log-likelihood; B 16, T 30.
 *                   (The chunking model itself has no word-level BiLSTM; this row follows the table.)
 * - `bilstm-layers`: the same network with both BiLSTMs as tf.layers.bidirectional(tf.layers.lstm),
 *                   weights copied from the fused model: the comparison row for lstm.ts
 *                   (the tf.layers oracle lives in test/fixtures/layers-bilstm.ts).
 * - `unet`:         U-net 16-32-64 on [8, 64, 64, 3], 2 output channels, per-pixel softmax cross-entropy.
 */
import type * as tfType from '@tensorflow/tfjs';
import * as chain from '../src/crf/chain.js';
import type { Rng } from '../src/util/rng.js';
import { normalArray } from '../src/models/init.js';
import { createLeNet, type LeNetPreset } from '../src/models/lenet.js';
import { createBiLstm } from '../src/models/lstm.js';
import { createUNet } from '../src/models/unet.js';
import { adam } from '../src/train/adam.js';
import { type BiLstmFn, layersBiLstm } from '../test/fixtures/layers-bilstm.js';

type Tf = typeof tfType;

export interface ModelBench {
  /** One training step; returns the loss. */
  step(): number;
  flopsPerStep?: number;
  dispose(): void;
}

export type ModelBenchFactory = (tf: Tf, rng: Rng) => ModelBench;

const LR = 1e-3;

/** Adam (sps's: fused where the back end has the kernel) on `params` minimising `lossFn`, the loss read back every step. */
function trainer(tf: Tf, params: tfType.Variable[], lossFn: () => tfType.Scalar, dispose: () => void, flopsPerStep?: number): ModelBench {
  const opt = adam(LR);
  return {
    step: () => {
      const l = opt.minimize(lossFn, true, params)!;
      const v = l.dataSync()[0];
      l.dispose();
      return v;
    },
    flopsPerStep,
    dispose: () => {
      opt.dispose();
      dispose();
    },
  };
}

/** A variable holding `values` (the temporary tensor is disposed: tf.variable keeps its own reference). */
function variable(tf: Tf, values: Float32Array, shape: number[]): tfType.Variable {
  const t = tf.tensor(values, shape, 'float32');
  const v = tf.variable(t);
  t.dispose();
  return v;
}

const ints = (rng: Rng, n: number, k: number): Int32Array => Int32Array.from({ length: n }, () => rng.int(k));

/** Binary 16×8 "letters" (random pixels, density 0.3, like the OCR data's ~30% ink). */
function letters(tf: Tf, rng: Rng, n: number): tfType.Tensor4D {
  return tf.tensor4d(
    Float32Array.from({ length: n * 128 }, () => (rng.next() < 0.3 ? 1 : 0)),
    [n, 16, 8, 1],
  );
}

function lenetBench(tf: Tf, rng: Rng): ModelBench {
  const N = 64;
  const net = createLeNet('lenet20-50-500', rng);
  const x = letters(tf, rng, N);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(ints(rng, N, 26), 'int32'), 26));
  return trainer(
    tf,
    net.params,
    () => tf.losses.softmaxCrossEntropy(y, net.apply(x)) as tfType.Scalar,
    () => {
      net.dispose();
      tf.dispose([x, y]);
    },
    3 * net.flops([N]),
  );
}

function lenetCrfBench(preset: LeNetPreset): ModelBenchFactory {
  return (tf, rng) => {
    const B = 16;
    const T = 8;
    const K = 26;
    const net = createLeNet(preset, rng);
    const pairwise = variable(tf, normalArray(rng, K * K, 0.1), [K, K]);
    const x = letters(tf, rng, B * T);
    const labels = Array.from({ length: B }, () => Array.from(ints(rng, T, K)));
    const lengths = new Array<number>(B).fill(T);
    return trainer(
      tf,
      [...net.params, pairwise],
      () =>
        tf.mean(
          chain.loss('log-likelihood', tf.reshape(net.apply(x), [B, T, K]) as tfType.Tensor3D, pairwise as tfType.Tensor as tfType.Tensor2D, labels, lengths, {
            validate: false,
          }),
        ) as tfType.Scalar,
      () => {
        net.dispose();
        tf.dispose([pairwise, x]);
      },
      3 * net.flops([B * T]),
    );
  };
}

function matmulBench(tf: Tf, rng: Rng): ModelBench {
  const n = 256;
  const a = variable(tf, normalArray(rng, n * n, 1 / 16), [n, n]);
  const b = variable(tf, normalArray(rng, n * n, 1 / 16), [n, n]);
  return trainer(
    tf,
    [a, b],
    () => tf.sum(tf.matMul(a, b)) as tfType.Scalar,
    () => tf.dispose([a, b]),
    3 * 2 * n ** 3,
  );
}

// ---------------------------------------------------------------------------------------------
// BiLSTM-CRF.

const BL = { B: 16, T: 30, chars: 8, charVocab: 60, charEmb: 25, charHidden: 25, wordVocab: 1000, wordEmb: 50, hidden: 100, tags: 23 };

function bilstmCrfBench(useLayers: boolean): ModelBenchFactory {
  return (tf, rng) => {
    const { B, T, chars, tags } = BL;
    const N = B * T;
    const charEmb = variable(tf, normalArray(rng, BL.charVocab * BL.charEmb, 1), [BL.charVocab, BL.charEmb]);
    const wordEmb = variable(tf, normalArray(rng, BL.wordVocab * BL.wordEmb, 1), [BL.wordVocab, BL.wordEmb]);
    const charLstm = createBiLstm({ inputSize: BL.charEmb, hidden: BL.charHidden }, rng);
    const wordLstm = createBiLstm({ inputSize: BL.wordEmb + 2 * BL.charHidden, hidden: BL.hidden }, rng);
    const outW = variable(tf, normalArray(rng, 2 * BL.hidden * tags, Math.sqrt(1 / (2 * BL.hidden))), [2 * BL.hidden, tags]);
    const outB = variable(tf, new Float32Array(tags), [tags]);
    const pairwise = variable(tf, normalArray(rng, tags * tags, 0.1), [tags, tags]);
    const charIds = tf.tensor1d(ints(rng, N * chars, BL.charVocab), 'int32');
    const wordIds = tf.tensor1d(ints(rng, N, BL.wordVocab), 'int32');
    const labels = Array.from({ length: B }, () => Array.from(ints(rng, T, tags)));
    const charLengths = new Array<number>(N).fill(chars);
    const lengths = new Array<number>(B).fill(T);

    // The final states only, as sps's own char encoder asks for them (PyTorch's twin reads h_n).
    let charFn: BiLstmFn = (x) => charLstm.run(x, charLengths, { outputs: false }).final!;
    let wordFn: BiLstmFn = (x) => wordLstm.apply(x, lengths);
    let lstmParams = [...charLstm.params, ...wordLstm.params];
    const disposers: (() => void)[] = [];
    if (useLayers) {
      const c = layersBiLstm(tf, charLstm, false);
      const w = layersBiLstm(tf, wordLstm, true);
      charFn = c.fn;
      wordFn = w.fn;
      lstmParams = [...c.variables, ...w.variables];
      disposers.push(c.dispose, w.dispose);
    }
    const lossFn = (): tfType.Scalar => {
      const c = charFn(tf.reshape(tf.gather(charEmb, charIds), [N, chars, BL.charEmb]) as tfType.Tensor3D); // [N, 2Hc]
      const feats = tf.reshape(tf.concat([tf.gather(wordEmb, wordIds), c], 1), [B, T, BL.wordEmb + 2 * BL.charHidden]) as tfType.Tensor3D;
      const h = wordFn(feats); // [B, T, 2H]
      const unary = tf.reshape(tf.fused.matMul({ a: tf.reshape(h, [N, 2 * BL.hidden]) as tfType.Tensor2D, b: outW, bias: outB }), [
        B,
        T,
        tags,
      ]) as tfType.Tensor3D;
      return tf.mean(chain.loss('log-likelihood', unary, pairwise as tfType.Tensor as tfType.Tensor2D, labels, lengths, { validate: false })) as tfType.Scalar;
    };
    const flops = 3 * (charLstm.flops([N, chars]) + wordLstm.flops([B, T]) + 2 * N * 2 * BL.hidden * tags);
    return trainer(
      tf,
      [charEmb, wordEmb, ...lstmParams, outW, outB, pairwise],
      lossFn,
      () => {
        disposers.forEach((d) => d());
        charLstm.dispose();
        wordLstm.dispose();
        tf.dispose([charEmb, wordEmb, outW, outB, pairwise, charIds, wordIds]);
      },
      flops,
    );
  };
}

function unetBench(tf: Tf, rng: Rng): ModelBench {
  const [B, H, W] = [8, 64, 64];
  const net = createUNet({ inChannels: 3, outChannels: 2, channels: [16, 32, 64] }, rng);
  const x = tf.tensor4d(normalArray(rng, B * H * W * 3, 1), [B, H, W, 3]);
  const y = tf.tidy(() => tf.reshape(tf.oneHot(tf.tensor1d(ints(rng, B * H * W, 2), 'int32'), 2), [B, H, W, 2]));
  return trainer(
    tf,
    net.params,
    () => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(net.apply(x))), -1))) as tfType.Scalar,
    () => {
      net.dispose();
      tf.dispose([x, y]);
    },
    3 * net.flops([B, H, W]),
  );
}

export const MODEL_BENCHES: Record<string, ModelBenchFactory> = {
  lenet: lenetBench,
  'lenet-crf': lenetCrfBench('lenet20-50-500'),
  'lenet5-crf': lenetCrfBench('lenet5'),
  matmul: matmulBench,
  'bilstm-crf': bilstmCrfBench(false),
  unet: unetBench,
  'bilstm-layers': bilstmCrfBench(true),
};
