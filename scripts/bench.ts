/**
 * Benchmarks (not tests), printing a table (README "Performance"):
 *   npm run bench -- [models] [--backends native,wasm] [--models lenet,matmul,...] [--vs pytorch] [--passes N]
 *   npm run bench -- crf [--backends native,wasm]
 *   npm run bench -- cells [--jobs 2] [--backend auto] [overrides...]        (bench/cells.ts)
 *   npm run bench -- epoch --against REV [--tasks ocr,chunking] [--passes 3] [--backend auto] [overrides...]   (bench/epoch.ts)
 * Options: --repeats 3 --steps 20 --warmup 1 (seconds) [--json FILE].
 * Each back end runs in its own process (a tfjs process holds one back end well); the parent collects
 * rows and prints one table. Figures: median of `repeats` repeats of ≥ `steps` timed steps after a
 * warm-up of at least 3 steps and `--warmup` seconds.
 * The models suite runs one child per model, back end and pass, interleaved with the PyTorch twin of
 * the model (bench/pytorch_models.py) with `--vs pytorch`, so that drift of the machine hits both.
 * Every invocation records its rows, the machine and the load in bench/results/ (bench/report.ts).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import Table from 'cli-table3';
import type * as tfType from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { blasCoretype } from '../src/backend/native/addon.js';
import type { BackendChoice } from '../src/core/constants.js';
import { Rng } from '../src/util/rng.js';
import * as chain from '../src/crf/chain.js';
import * as gaussian from '../src/crf/gaussian.js';
import { MODEL_BENCHES } from '../bench/models.js';
import { INSTALL_TORCH, PYTORCH_TWINS, findTorchPython, formatSpread, ratioOfMedians, spread, startRecord } from '../bench/report.js';
import { runCellsBench } from '../bench/cells.js';
import { runEpochBench } from '../bench/epoch.js';
import { createLeNet } from '../src/models/lenet.js';
import { CHAIN_CRF } from '../src/backend/kernel-names.js';
import { CHAIN_BENCHES, chainFlops, measurePeak, ofPeak } from '../bench/peak.js';

const PEAK_HOW = 'sgemm 512³, one thread';

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

/**
 * Warm-up before timing, in ms (--warmup, in seconds). V8 compiles tfjs's engine code (the tape, the
 * kernel dispatch) only after many calls, and a training cell makes thousands of steps: its rate is
 * the steady one. PyTorch's children get the same warm-up.
 */
let warmupMs = 1000;

type Step = () => void | Promise<void>;

/** At least `warmup` calls of `step` and at least warmupMs. */
async function warm(step: Step, warmup: number): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < warmup || performance.now() - start < warmupMs; i++) await step();
}

/** ms per call of `steps` calls of `step`. */
async function block(step: Step, steps: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  return (performance.now() - t0) / steps;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median of `repeats` timings of `steps` calls of `step` after at least `warmup` calls and warmupMs; ms per step. */
async function time(step: Step, steps: number, repeats: number, warmup = 3): Promise<number> {
  await warm(step, warmup);
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) runs.push(await block(step, steps));
  return median(runs);
}

/**
 * Two steps timed in alternating blocks after both warm-ups (so drift of the machine hits both
 * alike): the medians of their `repeats` blocks of `steps` calls, ms per step.
 */
async function timeInterleaved(a: Step, b: Step, steps: number, repeats: number): Promise<[number, number]> {
  await warm(a, 3);
  await warm(b, 3);
  const ra: number[] = [];
  const rb: number[] = [];
  for (let r = 0; r < repeats; r++) {
    ra.push(await block(a, steps));
    rb.push(await block(b, steps));
  }
  return [median(ra), median(rb)];
}

function randn(tf: Tf, rng: Rng, shape: number[], std = 1): tfType.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal() * std),
    shape,
  );
}

function labelsFor(rng: Rng, b: number, t: number, k: number): number[][] {
  return Array.from({ length: b }, () => Array.from({ length: t }, () => rng.int(k)));
}

async function crfSuite(tf: Tf, backend: string, steps: number, repeats: number): Promise<BenchRow[]> {
  // The LeNet-5 row below is the yardstick the CRF must stay under for OCR-sized batches.
  const rows: BenchRow[] = [];
  const rng = new Rng(0);
  const peak = measurePeak();
  // On a back end with the fused chain kernels, each chain row is timed against the tfjs-composed
  // path (fused: false) in alternating blocks of the same process: the speed-up is their ratio.
  const fusedHere = tf.getKernel(CHAIN_CRF, tf.getBackend()) !== undefined;
  for (const [B, T, K, name] of [
    [32, 24, 23, 'chunking-like'],
    [16, 10, 26, 'ocr-like'],
  ] as const) {
    const unary = tf.variable(randn(tf, rng, [B, T, K]) as tfType.Tensor3D);
    const pairwise = tf.variable(randn(tf, rng, [K, K], 0.5) as tfType.Tensor2D);
    const lengths = Array.from({ length: B }, () => T);
    const labels = labelsFor(rng, B, T, K);
    for (const bench of CHAIN_BENCHES) {
      const step = (fused: boolean): Step =>
        bench === 'viterbi'
          ? () => void chain.viterbi(unary, pairwise, lengths, { validate: false, fused })
          : () => {
              tf.tidy(() => {
                const { value, grads } = tf.variableGrads(
                  () => tf.mean(chain.loss(bench, unary, pairwise, labels, lengths, { validate: false, fused })) as tfType.Scalar,
                );
                value.dataSync();
                Object.values(grads).forEach((g) => g.dataSync());
              });
            };
      const [ms, refMs] = fusedHere ? await timeInterleaved(step(true), step(false), steps, repeats) : [await time(step(true), steps, repeats), undefined];
      const gflops = chainFlops(bench, lengths, K) / (ms * 1e6);
      rows.push({
        backend,
        suite: 'crf',
        model: `chain ${bench === 'viterbi' ? 'viterbi' : `${bench} loss+grad`} B=${B} T=${T} K=${K} (${name})`,
        stepsPerSec: (1000 / ms) * B,
        unit: 'seq/s',
        msPerStep: ms,
        ...(refMs !== undefined ? { tfjsMsPerStep: refMs, speedup: refMs / ms } : {}),
        gflops,
        ...(peak ? { peakGflops: peak.gflops } : {}),
      });
    }
    unary.dispose();
    pairwise.dispose();
  }

  {
    // Gaussian CRF: 4 images of 64×64 pixels, D = 8, solve + gradient to tolerance 1e-4.
    const B = 4,
      L = 64 * 64,
      D = 8,
      lambda = 1;
    const U = tf.variable(randn(tf, rng, [B, 2, L]) as tfType.Tensor3D);
    const A = tf.variable(
      tf.tidy(() => gaussian.normalizeEmbeddings(randn(tf, rng, [B, L, D]) as tfType.Tensor3D, lambda, { margin: 0.9 })) as tfType.Tensor3D,
    );
    const c = randn(tf, rng, [B, 2, L]);
    let iterations = 0;
    const ms = await time(
      () => {
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => {
            const r = gaussian.solve(U, A, lambda, { tolerance: 1e-4 });
            iterations = r.iterations;
            return tf.sum(tf.mul(r.s, c)) as tfType.Scalar;
          });
          value.dataSync();
          Object.values(grads).forEach((g) => g.dataSync());
        });
      },
      Math.max(3, Math.floor(steps / 4)),
      repeats,
      1,
    );
    rows.push({
      backend,
      suite: 'crf',
      model: `gaussian solve+grad B=${B} 64×64 D=${D} tol 1e-4`,
      stepsPerSec: 1000 / ms,
      unit: 'steps/s',
      msPerStep: ms,
      cgIterations: iterations,
    });
  }

  {
    // The CRF must never be the bottleneck: compare with a LeNet-5 forward+backward on the same 128 letters.
    const net = createLeNet('lenet5', rng);
    const x = randn(tf, rng, [128, 16, 8, 1]) as tfType.Tensor4D;
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 128 }, () => rng.int(26)),
        'int32',
      ),
      26,
    );
    let ms = NaN;
    let note: string | undefined;
    try {
      ms = await time(
        () => {
          tf.tidy(() => {
            const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.apply(x)) as tfType.Scalar, net.params);
            value.dataSync();
            Object.values(grads).forEach((g) => g.dataSync());
          });
        },
        steps,
        repeats,
      );
    } catch (e) {
      note = `not trainable on ${backend} yet: ${(e as Error).message.split('\n')[0]}`;
    }
    rows.push({
      backend,
      suite: 'crf',
      model: 'LeNet-5 (6-16-120-84) fwd+bwd on 128 letters (reference for ocr-like)',
      stepsPerSec: 1000 / ms,
      unit: 'steps/s',
      msPerStep: ms,
      note,
    });
    net.dispose();
  }
  return rows;
}

/** Training steps of the task networks (forward, backward, Adam, reading the loss). */
async function modelSuite(tf: Tf, backend: string, steps: number, repeats: number, models: string[]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const peak = measurePeak();
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
    rows.push({
      backend,
      suite: 'models',
      model: name,
      stepsPerSec,
      unit: 'steps/s',
      msPerStep: ms,
      ...(bench.flopsPerStep ? { gflops: (bench.flopsPerStep * stepsPerSec) / 1e9 } : {}),
      ...(peak ? { peakGflops: peak.gflops } : {}),
      note,
    });
  }
  return rows;
}

type Suite = (tf: Tf, backend: string, steps: number, repeats: number, models: string[]) => Promise<BenchRow[]>;
const SUITES: Record<string, Suite> = { models: modelSuite, crf: crfSuite };

async function child(suite: string, backend: BackendChoice, steps: number, repeats: number, warmupSeconds: number, models: string[]): Promise<void> {
  warmupMs = warmupSeconds * 1000;
  const b = await selectBackend(backend);
  const rows = await SUITES[suite](b.tf, b.name, steps, repeats, models);
  process.stdout.write('BENCH_JSON ' + JSON.stringify(rows) + '\n');
}

interface ParentOptions {
  backends: string;
  models?: string;
  json?: string;
  steps: string;
  repeats: string;
  warmup: string;
  vs?: string;
  passes?: string;
  against?: string;
  jobs: string;
  backend: string;
  config: string;
  tasks?: string;
  parallelCheck: boolean;
}

const num = (x: unknown, digits: number) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—');

/** One sps bench child (one back end; the models suite: one model); its rows, or undefined after reporting the failure. */
function runChild(suite: string, backend: string, opts: ParentOptions, models: string[]): BenchRow[] | undefined {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), '--child', suite, backend, opts.steps, opts.repeats, opts.warmup, models.join(',')];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.status !== 0 || !line) {
    process.stderr.write(`bench ${suite} ${models.join(',')} on ${backend} failed (exit ${r.status})\n`);
    return undefined;
  }
  return JSON.parse(line.slice('BENCH_JSON '.length)) as BenchRow[];
}

const PYTORCH_SCRIPT = fileURLToPath(new URL('../bench/pytorch_models.py', import.meta.url));

/** The BLAS libraries the PyTorch children loaded (bench/pytorch_models.py reports them). */
const torchBlas = new Set<string>();

/** One PyTorch child for one model, on one thread; its steps/s, or NaN after reporting the failure. */
function runPytorch(python: string, model: string, opts: ParentOptions): number {
  // The same OpenBLAS kernel set as sps's native back end (docs/backends.md): left to itself, Debian's
  // OpenBLAS 0.3.21 may not know the CPU and fall back to its slowest kernels, which would flatter sps.
  const core = process.env.OPENBLAS_CORETYPE ?? blasCoretype();
  const threads = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1', ...(core ? { OPENBLAS_CORETYPE: core } : {}) };
  const r = spawnSync(python, [PYTORCH_SCRIPT, '--models', model, '--steps', opts.steps, '--repeats', opts.repeats, '--warmup-seconds', opts.warmup], {
    encoding: 'utf8',
    env: { ...process.env, ...threads },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    if (r.status !== 0) throw new Error(`exit ${r.status}`);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as { blas?: string[]; rows: { model: string; stepsPerSec: number }[] };
    out.blas?.forEach((b) => torchBlas.add(b));
    const rows = out.rows;
    return rows.find((x) => x.model === model)?.stepsPerSec ?? NaN;
  } catch (e) {
    process.stderr.write(`PyTorch ${model} failed (${(e as Error).message}); its pass counts as missing\n`);
    return NaN;
  }
}

/**
 * The models suite: for each pass, for each model, the sps child on every back end and then (with
 * `--vs pytorch`) the PyTorch child, so that the machine's drift hits both sides alike.
 */
async function modelsParent(opts: ParentOptions, models: string[]): Promise<void> {
  if (opts.vs !== undefined && opts.vs !== 'pytorch') throw new Error(`--vs ${opts.vs}: only 'pytorch' is known`);
  const passes = Number(opts.passes ?? (opts.vs ? 3 : 1));
  if (!Number.isInteger(passes) || passes < 1) throw new Error(`--passes ${opts.passes}: give a whole number ≥ 1`);
  const backends = opts.backends.split(',');
  const torch = opts.vs ? findTorchPython() : undefined;
  if (torch && torch.python === null) {
    process.stderr.write(`PyTorch is not importable by ${torch.tried.join(', ')}: printing sps's rates alone.\nInstall it with: ${INSTALL_TORCH}\n`);
  }
  const python = torch?.python ?? null;
  const record = startRecord('models', {
    backends,
    models,
    vs: opts.vs ?? null,
    passes,
    steps: Number(opts.steps),
    repeats: Number(opts.repeats),
    warmupSeconds: Number(opts.warmup),
  });
  const sps = new Map<string, number[]>(); // `${backend} ${model}` → steps/s per pass
  const last = new Map<string, BenchRow>();
  const pytorch = new Map<string, number[]>();
  const peakOf = new Map<string, number[]>(); // the sgemm peak each child measured
  for (let p = 0; p < passes; p++) {
    for (const model of models) {
      for (const backend of backends) {
        process.stderr.write(`pass ${p + 1}/${passes}: ${model} on ${backend}...\n`);
        const row = runChild('models', backend, opts, [model])?.[0];
        const key = `${backend} ${model}`;
        sps.set(key, [...(sps.get(key) ?? []), row?.stepsPerSec ?? NaN]);
        peakOf.set(key, [...(peakOf.get(key) ?? []), typeof row?.peakGflops === 'number' ? row.peakGflops : NaN]);
        if (row) last.set(key, row);
      }
      if (python && PYTORCH_TWINS.includes(model)) {
        process.stderr.write(`pass ${p + 1}/${passes}: ${model} in PyTorch...\n`);
        pytorch.set(model, [...(pytorch.get(model) ?? []), runPytorch(python, model, opts)]);
      }
    }
  }
  const rows = backends.flatMap((backend) =>
    models.map((model) => {
      const s = spread(sps.get(`${backend} ${model}`) ?? []);
      const t = python && PYTORCH_TWINS.includes(model) ? spread(pytorch.get(model) ?? []) : undefined;
      const r = last.get(`${backend} ${model}`);
      // GFLOP/s at the median rate (a child reports its own pass's); the peak: the best any pass's child measured.
      const gflops = typeof r?.gflops === 'number' ? (r.gflops / r.stepsPerSec) * s.median : undefined;
      const peaks = (peakOf.get(`${backend} ${model}`) ?? []).filter((x) => Number.isFinite(x));
      const peakGflops = peaks.length ? Math.max(...peaks) : undefined;
      return {
        backend,
        model,
        unit: 'steps/s',
        sps: s,
        msPerStep: 1000 / s.median,
        gflops,
        ...(peakGflops !== undefined ? { peakGflops } : {}),
        note: r?.note,
        ...(t ? { pytorch: t, ratio: ratioOfMedians(s, t) } : {}),
      };
    }),
  );
  const head = ['backend', 'model', `sps steps/s${passes > 1 ? ', median (min–max)' : ''}`, 'ms/step', 'GFLOP/s', 'distance to peak'];
  if (python) head.push(`PyTorch 1 thread${passes > 1 ? ', median (min–max)' : ''}`, 'ratio of medians');
  const t = new Table({ head: [...head, 'note'], style: { head: [], border: [] } });
  for (const r of rows) {
    const vs = r.pytorch ? [formatSpread(r.pytorch), num(r.ratio, 2)] : ['no PyTorch twin', ''];
    t.push([
      r.backend,
      r.model,
      formatSpread(r.sps),
      num(r.msPerStep, 2),
      num(r.gflops, 2),
      ofPeak(r.gflops, r.peakGflops),
      ...(python ? vs : []),
      r.note ?? '',
    ]);
  }
  process.stdout.write(t.toString() + '\n');
  const peaks = rows.map((r) => r.peakGflops).filter((x): x is number => typeof x === 'number');
  if (peaks.length)
    process.stdout.write(`Peak: ${Math.max(...peaks).toFixed(1)} GFLOP/s (${PEAK_HOW}, measured in each model's process; a row's distance uses its own).\n`);
  if (python)
    process.stdout.write(
      `PyTorch: ${torch && 'torch' in torch ? torch.torch : ''} (${python}), one thread, BLAS ${[...torchBlas].join(', ') || 'not reported'} (OPENBLAS_CORETYPE ${process.env.OPENBLAS_CORETYPE ?? blasCoretype() ?? 'unset'}); ratio = sps median / PyTorch median (above 1: sps is faster); ${passes} interleaved pass${passes > 1 ? 'es' : ''}.\n`,
    );
  finish(
    record,
    rows,
    opts,
    torch && 'torch' in torch ? torch.torch : null,
    python
      ? { torch_python: python, torch_threads: 1, torch_blas: [...torchBlas], torch_openblas_coretype: process.env.OPENBLAS_CORETYPE ?? blasCoretype() ?? null }
      : {},
  );
}

/** The crf suite: one child per back end, all benchmarks in it. */
async function crfParent(opts: ParentOptions): Promise<void> {
  const record = startRecord('crf', {
    backends: opts.backends.split(','),
    steps: Number(opts.steps),
    repeats: Number(opts.repeats),
    warmupSeconds: Number(opts.warmup),
  });
  const rows: BenchRow[] = [];
  for (const backend of opts.backends.split(',')) {
    process.stderr.write(`bench crf on ${backend}...\n`);
    rows.push(...(runChild('crf', backend, opts, []) ?? []));
  }
  const t = new Table({
    head: ['backend', 'benchmark', 'rate', 'ms/step', 'tfjs path ms/step', 'speed-up', 'GFLOP/s', 'distance to peak', 'note'],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    const extra = r.cgIterations !== undefined ? `CG iterations ${r.cgIterations}` : (r.note ?? '');
    const g = r.gflops as number | undefined;
    const speedup = typeof r.speedup === 'number' ? `${r.speedup.toFixed(1)}×` : '';
    t.push([
      r.backend,
      r.model,
      Number.isFinite(r.stepsPerSec) ? `${r.stepsPerSec.toFixed(1)} ${r.unit}` : '—',
      num(r.msPerStep, 2),
      num(r.tfjsMsPerStep, 2),
      speedup,
      num(g, 2),
      ofPeak(g, r.peakGflops as number | undefined),
      extra,
    ]);
  }
  process.stdout.write(t.toString() + '\n');
  const peaks = rows.map((r) => r.peakGflops).filter((x): x is number => typeof x === 'number');
  if (peaks.length)
    process.stdout.write(
      `Peak: ${Math.max(...peaks).toFixed(1)} GFLOP/s (${PEAK_HOW}, measured in each back end's process); speed-up = tfjs-composed path (fused: false) over the fused kernels, in alternating blocks of one process.\n`,
    );
  finish(record, rows, opts, null);
}

function finish(record: ReturnType<typeof startRecord>, rows: unknown[], opts: ParentOptions, torch: string | null, extra: Record<string, unknown> = {}): void {
  const file = record.finish(rows, extra, torch ?? findTorchVersion());
  process.stderr.write(`results recorded in ${relative(process.cwd(), file)}\n`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(rows, null, 2) + '\n');
}

/** torch's version for the record of a suite that does not run PyTorch (null when it is missing). */
function findTorchVersion(): string | null {
  const t = findTorchPython();
  return 'torch' in t ? t.torch : null;
}

async function parent(suite: string, overrides: string[], opts: ParentOptions): Promise<void> {
  for (const [flag, v] of [
    ['--steps', opts.steps],
    ['--repeats', opts.repeats],
    ['--jobs', opts.jobs],
  ] as const) {
    if (!/^[1-9]\d*$/.test(v)) throw new Error(`${flag} ${v}: give a whole number ≥ 1`);
  }
  if (!(Number(opts.warmup) >= 0)) throw new Error(`--warmup ${opts.warmup}: give a number of seconds ≥ 0`);
  if (suite === 'cells') {
    const record = startRecord('cells', {
      jobs: Number(opts.jobs),
      backend: opts.backend,
      config: opts.config,
      tasks: opts.tasks ?? null,
      parallelCheck: opts.parallelCheck,
      overrides,
    });
    const result = await runCellsBench({
      jobs: Number(opts.jobs),
      backend: opts.backend,
      config: opts.config,
      tasks: opts.tasks?.split(','),
      overrides,
      parallelCheck: opts.parallelCheck,
    });
    process.stdout.write(result.text);
    finish(record, result.rows, opts, null, { assumptions: result.assumptions, projection: result.projection });
    return;
  }
  if (suite === 'epoch') {
    if (!opts.against) throw new Error('bench epoch: give the commit to time against, e.g. --against 0f2af07');
    const passes = Number(opts.passes ?? 3);
    const tasks = (opts.tasks ?? 'ocr,chunking').split(',');
    const record = startRecord('epoch', { against: opts.against, tasks, passes, backend: opts.backend, overrides });
    const result = await runEpochBench({ against: opts.against, tasks, passes, backend: opts.backend, overrides });
    process.stdout.write(result.text);
    finish(record, result.rows, opts, null, { against_commit: result.sha });
    return;
  }
  if (overrides.length) throw new Error(`config overrides (${overrides.join(' ')}) are for the cells and epoch suites only`);
  if (suite === 'crf') return crfParent(opts);
  if (suite !== 'models') throw new Error(`unknown suite '${suite}' (known: models, crf, cells, epoch)`);
  // With --vs, all models means those with a PyTorch twin.
  const models = opts.models ? opts.models.split(',') : opts.vs ? [...PYTORCH_TWINS] : Object.keys(MODEL_BENCHES);
  const unknown = models.filter((m) => !MODEL_BENCHES[m]);
  if (unknown.length) throw new Error(`unknown model(s) ${unknown.join(', ')} (known: ${Object.keys(MODEL_BENCHES).join(', ')})`);
  return modelsParent(opts, models);
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  await child(argv[1], argv[2] as BackendChoice, Number(argv[3]), Number(argv[4]), Number(argv[5]), argv[6] ? argv[6].split(',') : []);
} else {
  const program = new Command()
    .name('npm run bench --')
    .argument('[suite]', 'benchmark suite: models, crf, cells, epoch', 'models')
    .argument(
      '[overrides...]',
      "cells, epoch: overrides of the timed cells, as for sps run (TASK:key=value for one task), e.g. to check the bench on data.source=sample; the projection keeps the table's settings",
    )
    .option('--backends <list>', 'models, crf: comma-separated back ends, one process each', 'native,wasm')
    .option(
      '--models <list>',
      `models: which networks (default all: ${Object.keys(MODEL_BENCHES).join(', ')}; with --vs, those PyTorch has: ${PYTORCH_TWINS.join(', ')})`,
    )
    .option('--vs <other>', "models: also run the same models in 'pytorch' (bench/pytorch_models.py), interleaved")
    .option('--passes <n>', 'models, epoch: interleaved passes, reported as median (min–max) (default: models 3 with --vs, else 1; epoch 3)')
    .option('--against <rev>', 'epoch: the commit to time one epoch against (built in a temporary git worktree)')
    .option('--steps <n>', 'models, crf: timed steps per repeat', '20')
    .option('--repeats <n>', 'models, crf: repeats within a pass (the median is reported)', '3')
    .option('--warmup <seconds>', 'models, crf: untimed steps first, at least 3 and at least this long (both sides)', '1')
    .option('--jobs <n>', 'cells: project the paper table at this many parallel jobs', '2')
    .option('--backend <name>', 'cells, epoch: the back end of the timed cells (auto: what sps run picks)', 'auto')
    .option('--config <file>', 'cells: the table to project', 'configs/paper.yaml')
    .option('--tasks <list>', 'cells: time only these tasks (the others are left out of the projection); epoch: the tasks to time (default ocr,chunking)')
    .option('--no-parallel-check', 'cells: skip timing --jobs cells side by side (assume no slowdown)')
    .option('--json <file>', 'also write the rows as JSON to FILE (they always go to bench/results/)')
    .action(parent);
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
