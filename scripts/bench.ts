/**
 * Benchmarks (not tests), printing a table:
 *   npm run bench -- [models] [--backends wasm,cpu] [--models lenet,matmul,...] [--json FILE]
 *   npm run bench -- crf [--backends wasm,cpu] [--json FILE]
 * Options: --repeats 3 --steps 20.
 * Each back end runs in its own process (a tfjs process holds one back end well); the parent collects
 * rows and prints one table. Figures: median of `repeats` repeats of ≥ `steps` timed steps after warm-up.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import Table from 'cli-table3';
import type * as tfType from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import type { BackendChoice } from '../src/config/constants.js';
import { Rng } from '../src/util/rng.js';
import * as chain from '../src/crf/chain.js';
import * as gaussian from '../src/crf/gaussian.js';
import { MODEL_BENCHES } from '../bench/models.js';
import { createLeNet } from '../src/models/lenet.js';

/**
 * PyTorch 2 on CPU (MKL), steps/s with 1 thread, measured on this project's 2-core machine (as given in
 * the project's issue "Fast training on CPU"); the bench prints our rate relative to them.
 */
const PYTORCH_1_THREAD: Record<string, number> = { lenet: 67, 'lenet-crf': 37.5, matmul: 482, 'bilstm-crf': 14.8, unet: 9.7 };

export interface BenchRow {
  backend: string;
  suite: string;
  model: string;
  /** Steps (or sequences, see unit) per second. */
  stepsPerSec: number;
  unit: string;
  msPerStep: number;
  note?: string;
  [extra: string]: unknown;
}

type Tf = typeof tfType;

/** Median of `repeats` timings of `steps` calls of `step` after `warmup` calls; ms per step. */
async function time(step: () => void | Promise<void>, steps: number, repeats: number, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await step();
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await step();
    runs.push((performance.now() - t0) / steps);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)];
}

function randn(tf: Tf, rng: Rng, shape: number[], std = 1): tfType.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal() * std), shape);
}

function labelsFor(rng: Rng, b: number, t: number, k: number): number[][] {
  return Array.from({ length: b }, () => Array.from({ length: t }, () => rng.int(k)));
}

async function crfSuite(tf: Tf, backend: string, steps: number, repeats: number): Promise<BenchRow[]> {
  // The LeNet-5 row below is the yardstick the CRF must stay under for OCR-sized batches.
  const rows: BenchRow[] = [];
  const rng = new Rng(0);
  for (const [B, T, K, name] of [[32, 24, 23, 'chunking-like'], [16, 10, 26, 'ocr-like']] as const) {
    const unary = tf.variable(randn(tf, rng, [B, T, K]) as tfType.Tensor3D);
    const pairwise = tf.variable(randn(tf, rng, [K, K], 0.5) as tfType.Tensor2D);
    const lengths = Array.from({ length: B }, () => T);
    const labels = labelsFor(rng, B, T, K);
    for (const objective of ['log-likelihood', 'cross-entropy'] as const) {
      const ms = await time(() => {
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => tf.mean(chain.loss(objective, unary, pairwise, labels, lengths, { validate: false })) as tfType.Scalar);
          value.dataSync();
          Object.values(grads).forEach((g) => g.dataSync());
        });
      }, steps, repeats);
      rows.push({ backend, suite: 'crf', model: `chain ${objective} loss+grad B=${B} T=${T} K=${K} (${name})`, stepsPerSec: (1000 / ms) * B, unit: 'seq/s', msPerStep: ms });
    }
    const ms = await time(() => void chain.viterbi(unary, pairwise, lengths, { validate: false }), steps, repeats);
    rows.push({ backend, suite: 'crf', model: `chain viterbi B=${B} T=${T} K=${K} (${name})`, stepsPerSec: (1000 / ms) * B, unit: 'seq/s', msPerStep: ms });
    unary.dispose();
    pairwise.dispose();
  }

  {
    // Gaussian CRF: 4 images of 64×64 pixels, D = 8, solve + gradient to tolerance 1e-4.
    const B = 4, L = 64 * 64, D = 8, lambda = 1;
    const U = tf.variable(randn(tf, rng, [B, 2, L]) as tfType.Tensor3D);
    const A = tf.variable(tf.tidy(() => gaussian.normalizeEmbeddings(randn(tf, rng, [B, L, D]) as tfType.Tensor3D, lambda, { margin: 0.9 })) as tfType.Tensor3D);
    const c = randn(tf, rng, [B, 2, L]);
    let iterations = 0;
    const ms = await time(() => {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const r = gaussian.solve(U, A, lambda, { tolerance: 1e-4 });
          iterations = r.iterations;
          return tf.sum(tf.mul(r.s, c)) as tfType.Scalar;
        });
        value.dataSync();
        Object.values(grads).forEach((g) => g.dataSync());
      });
    }, Math.max(3, Math.floor(steps / 4)), repeats, 1);
    rows.push({ backend, suite: 'crf', model: `gaussian solve+grad B=${B} 64×64 D=${D} tol 1e-4`, stepsPerSec: 1000 / ms, unit: 'steps/s', msPerStep: ms, cgIterations: iterations });
  }

  {
    // The CRF must never be the bottleneck: compare with a LeNet-5 forward+backward on the same 128 letters.
    const net = createLeNet('lenet5', rng);
    const x = randn(tf, rng, [128, 16, 8, 1]) as tfType.Tensor4D;
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 128 }, () => rng.int(26)), 'int32'), 26);
    let ms = NaN;
    let note: string | undefined;
    try {
      ms = await time(() => {
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.apply(x)) as tfType.Scalar, net.params);
          value.dataSync();
          Object.values(grads).forEach((g) => g.dataSync());
        });
      }, steps, repeats);
    } catch (e) {
      note = `not trainable on ${backend} yet: ${(e as Error).message.split('\n')[0]}`;
    }
    rows.push({ backend, suite: 'crf', model: 'LeNet-5 (6-16-120-84) fwd+bwd on 128 letters (reference for ocr-like)', stepsPerSec: 1000 / ms, unit: 'steps/s', msPerStep: ms, note });
    net.dispose();
  }
  return rows;
}

/** Training steps of the task networks (forward, backward, Adam, reading the loss). */
async function modelSuite(tf: Tf, backend: string, steps: number, repeats: number, models: string[]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const name of models) {
    const bench = MODEL_BENCHES[name](tf, new Rng(0));
    let ms = NaN;
    let note: string | undefined;
    try {
      ms = await time(() => void bench.step(), steps, repeats);
    } catch (e) {
      note = `failed on ${backend}: ${(e as Error).message.split('\n')[0]}`;
    }
    bench.dispose();
    const stepsPerSec = 1000 / ms;
    const ref = PYTORCH_1_THREAD[name];
    rows.push({
      backend,
      suite: 'models',
      model: name,
      stepsPerSec,
      unit: 'steps/s',
      msPerStep: ms,
      ...(bench.flopsPerStep ? { gflops: (bench.flopsPerStep * stepsPerSec) / 1e9 } : {}),
      ...(ref ? { pytorch1Thread: ref, ratioToPytorch: stepsPerSec / ref } : {}),
      note,
    });
  }
  return rows;
}

type Suite = (tf: Tf, backend: string, steps: number, repeats: number, models: string[]) => Promise<BenchRow[]>;
const SUITES: Record<string, Suite> = { models: modelSuite, crf: crfSuite };

async function child(suite: string, backend: BackendChoice, steps: number, repeats: number, models: string[]): Promise<void> {
  const b = await selectBackend(backend);
  const rows = await SUITES[suite](b.tf, b.name, steps, repeats, models);
  process.stdout.write('BENCH_JSON ' + JSON.stringify(rows) + '\n');
}

async function parent(suite: string, opts: { backends: string; models?: string; json?: string; steps: string; repeats: string }): Promise<void> {
  if (!SUITES[suite]) throw new Error(`unknown suite '${suite}' (known: ${Object.keys(SUITES).join(', ')})`);
  const models = opts.models ? opts.models.split(',') : Object.keys(MODEL_BENCHES);
  const unknown = models.filter((m) => !MODEL_BENCHES[m]);
  if (unknown.length) throw new Error(`unknown model(s) ${unknown.join(', ')} (known: ${Object.keys(MODEL_BENCHES).join(', ')})`);
  const rows: BenchRow[] = [];
  for (const backend of opts.backends.split(',')) {
    process.stderr.write(`bench ${suite} on ${backend}...\n`);
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--child', suite, backend, opts.steps, opts.repeats, models.join(',')];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
    if (r.status !== 0 || !line) {
      process.stderr.write(`bench on ${backend} failed (exit ${r.status})\n`);
      continue;
    }
    rows.push(...(JSON.parse(line.slice('BENCH_JSON '.length)) as BenchRow[]));
  }
  const t = new Table({ head: ['backend', 'benchmark', 'rate', 'ms/step', 'GFLOP/s', 'vs PyTorch 1 thread', 'note'], style: { head: [], border: [] } });
  const num = (x: unknown, digits: number) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—');
  for (const r of rows) {
    const extra = r.cgIterations !== undefined ? `CG iterations ${r.cgIterations}` : (r.note ?? '');
    const vs = typeof r.ratioToPytorch === 'number' ? `${num(r.ratioToPytorch, 2)}× of ${r.pytorch1Thread}` : '';
    t.push([r.backend, r.model, Number.isFinite(r.stepsPerSec) ? `${r.stepsPerSec.toFixed(1)} ${r.unit}` : '—', num(r.msPerStep, 2), num(r.gflops, 2), vs, extra]);
  }
  process.stdout.write(t.toString() + '\n');
  if (opts.json) writeFileSync(opts.json, JSON.stringify(rows, null, 2) + '\n');
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  await child(argv[1], argv[2] as BackendChoice, Number(argv[3]), Number(argv[4]), argv[5].split(','));
} else {
  const program = new Command()
    .name('npm run bench --')
    .argument('[suite]', `benchmark suite: ${Object.keys(SUITES).join(', ')}`, 'models')
    .option('--backends <list>', 'comma-separated back ends, one process each', 'wasm,cpu')
    .option('--models <list>', `models suite: which networks (default all: ${Object.keys(MODEL_BENCHES).join(', ')})`)
    .option('--steps <n>', 'timed steps per repeat', '20')
    .option('--repeats <n>', 'repeats (the median is reported)', '3')
    .option('--json <file>', 'also write the rows as JSON')
    .action(parent);
  await program.parseAsync(process.argv);
}
