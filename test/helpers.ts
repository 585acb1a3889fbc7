import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { canonicalBackend } from '../src/core/constants.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const TOY_PLUGIN = join(ROOT, 'test/fixtures/toy-task.ts');
/** The shared real data (CI has it at ../shared/datasets; $SPS_SHARED_DATASETS points elsewhere). */
export const SHARED_DATASETS = resolve(process.env.SPS_SHARED_DATASETS ?? join(ROOT, '../shared/datasets'));

/**
 * What the real-data tests read: the full data sets when the shared folder is there (CI), otherwise
 * the embedded samples (a bare clone), so they never skip. `data` is the config's `data.source`;
 * `prepare(names, dataDir)` imports the full data sets into a data folder (nothing for the samples).
 */
export const REAL_DATA = existsSync(SHARED_DATASETS)
  ? { kind: 'full' as const, source: 'full', prepare: (names: string[], dataDir: string) => prepareFromShared(names, dataDir) }
  : { kind: 'sample' as const, source: 'sample', prepare: (_names: string[], _dataDir: string) => {} };

function prepareFromShared(names: string[], dataDir: string): void {
  for (const name of names) {
    const r = sps(['prepare', name, '--from', SHARED_DATASETS], { env: { SPS_DATA_DIR: dataDir } });
    if (r.code !== 0) throw new Error(`sps prepare ${name} --from ${SHARED_DATASETS} failed: ${r.stderr}`);
  }
}

/**
 * Suites that need something npm cannot install run where it is present. Elsewhere (no root, not
 * Debian) they are skipped with one line saying why and the command that enables them, unless
 * REQUIRE_ALL is set (CI=true, as .ci/run has it, or SPS_REQUIRE_ALL=1): then they run and fail on
 * what is missing, so CI never passes by skipping.
 */
export const REQUIRE_ALL = (!!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0') || process.env.SPS_REQUIRE_ALL === '1';

const isRoot = (): boolean => process.getuid?.() === 0;

/** What a suite can need from outside npm: why it is missing here (undefined: present), and how to get it. */
export const SYSTEM_NEEDS = {
  chromium: {
    missing: () => (existsSync(process.env.SPS_CHROMIUM ?? '/usr/bin/chromium') ? undefined : `${process.env.SPS_CHROMIUM ?? '/usr/bin/chromium'} not found`),
    enable: 'sudo apt-get install -y chromium (or set SPS_CHROMIUM to a Chromium binary)',
  },
  slurm: {
    // scripts/slurm-local.sh installs the packages itself when run as root; its daemons run as root.
    missing: () => (isRoot() ? undefined : 'the one-node Slurm cluster of scripts/slurm-local.sh runs its daemons as root'),
    enable: 'sudo npm test (as root it installs slurm-wlm and munge and starts the cluster)',
  },
  'full-data': {
    missing: () => (existsSync(SHARED_DATASETS) ? undefined : `${SHARED_DATASETS} not found (the committed runs read the full data sets)`),
    enable: 'SPS_SHARED_DATASETS=/path/to/shared/datasets npm test (the folder holding ocr, conll2000, word-embeddings and weizmann-horse)',
  },
  native: {
    missing: () =>
      existsSync(process.env.SPS_BLAS_ADDON ?? join(ROOT, 'native/build/sps_blas.node'))
        ? undefined
        : 'the native addon native/build/sps_blas.node is not built',
    enable: 'sudo apt-get install -y gcc libc6-dev libopenblas-openmp-dev libdnnl-dev && npm run build:native',
  },
} satisfies Record<string, { missing: () => string | undefined; enable: string }>;
export type SystemNeed = keyof typeof SYSTEM_NEEDS;

const noted = new Set<string>();

/**
 * Options for `describe`/`it`: `{}` when `need` is present (or under REQUIRE_ALL), otherwise a skip
 * whose reason is one line with the command that enables the suite, also printed once per file.
 */
export function needs(need: SystemNeed, suite = 'this suite'): { skip?: string } {
  const why = SYSTEM_NEEDS[need].missing();
  if (!why || REQUIRE_ALL) return {};
  const line = `not run: ${why}; to run it: ${SYSTEM_NEEDS[need].enable}`;
  if (!noted.has(`${suite}\n${line}`)) {
    noted.add(`${suite}\n${line}`);
    process.stderr.write(`sps tests: ${suite} ${line}\n`);
  }
  return { skip: line };
}

/** samples/counts.json: what scripts/make-samples.ts counted while cutting the samples. */
export const SAMPLE_COUNTS = JSON.parse(readFileSync(join(ROOT, 'samples', 'counts.json'), 'utf8')) as {
  ocr: { words: number; letters: number; words_per_fold: number[] };
  conll2000: { train_sentences: number; train_tokens: number; test_sentences: number; test_tokens: number };
  'word-embeddings': { words: number; vocabulary: number };
  'weizmann-horse': { horses: number; indices: number[] };
};

/** A temp directory removed when the test file ends. */
export function tempDir(prefix = 'sps-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // tsx lets the workers load the TypeScript toy task; the CLI itself is the compiled bin/sps.
  return { ...process.env, SPS_PLUGINS: TOY_PLUGIN, NODE_OPTIONS: '--import tsx', SPS_BACKEND: '', ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `sps ARGS` to completion. */
export function sps(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sps'), ...args], { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env), encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run `bash scripts/NAME ARGS` from the repository root, with the CLI's test environment (the toy task). */
export function script(name: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync('bash', [join(ROOT, 'scripts', name), ...args], {
    cwd: ROOT,
    env: cliEnv(opts.env),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 240_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The run ids `sps run FILE` plans: every block's cells (its swept variants, or its experiment alone). */
export async function plannedRunIds(file: string): Promise<string[]> {
  // Imported here so that the tests that never plan a sweep do not load the config layer.
  const [{ loadExperiment }, { expandSweep }, { allTasks }] = await Promise.all([
    import('../src/config/load.js'),
    import('../src/config/cells.js'),
    import('../src/train/tasks/index.js'),
  ]);
  const loaded = await loadExperiment(file, await allTasks());
  return loaded.blocks.flatMap(({ experiment, variants }) => expandSweep(variants ?? [{ experiment }]).map((c) => c.id));
}

/** Overrides that shrink test/fixtures/toy.yaml to one objective, one epoch and 16 sequences: a cell in about a second. */
export const TINY_TOY = ['objectives=[ssvm]', 'train.epochs=1', 'data.sequences=16'];

/** Start `sps ARGS` in its own process group (so a test can SIGKILL it and its workers at once). */
export function spsSpawn(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin/sps'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: cliEnv(opts.env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * The back ends every numerical suite runs on: cpu (the reference), wasm with sps's training kernels,
 * and native (wasm with sps's C kernels; npm test builds its addon).
 */
export const TEST_BACKENDS = ['cpu', 'wasm', 'native'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

/** $SPS_TEST_BACKEND narrows the back ends to one while iterating (blas, the old name, is native); unset, all of TEST_BACKENDS run. */
function testBackends(): readonly TestBackend[] {
  const only = process.env.SPS_TEST_BACKEND ? canonicalBackend(process.env.SPS_TEST_BACKEND) : undefined;
  if (!only) return TEST_BACKENDS;
  if (!(TEST_BACKENDS as readonly string[]).includes(only)) throw new Error(`SPS_TEST_BACKEND=${only}: expected one of ${TEST_BACKENDS.join(', ')} (or blas)`);
  return [only as TestBackend];
}

/**
 * Declares the suite `body` once per back end (like tfjs's describeWithFlags), each copy named
 * "NAME [backend]" and run with that back end active. The copies run one after the other (node:test
 * runs a file's suites in order), so switching tfjs's global back end in `before` is safe.
 */
export function describeOnBackends(name: string, body: (backend: TestBackend) => void): void {
  for (const backend of testBackends()) {
    describe(`${name} [${backend}]`, backend === 'native' ? needs('native', 'the [native] copies of the numerical suites:') : {}, () => {
      before(async () => {
        const { selectBackend } = await import('../src/backend/select.js');
        const b = await selectBackend(backend);
        if (b.name !== backend) throw new Error(`could not activate the ${backend} back end`);
      });
      body(backend);
    });
  }
}

export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, for numbers and (nested) arrays
 * or typed arrays; `actual` must be a finite number wherever `expected` is one (null fails).
 */
export function close(actual: unknown, expected: unknown, tol: Tolerance = { atol: 1e-9 }, what = 'value'): void {
  const { rtol = 0, atol = 0 } = tol;
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${what}: ${String(actual)} is not a number`);
    const a = actual as number;
    assert.ok(Number.isFinite(a), `${what}: ${a} is not finite`);
    assert.ok(Math.abs(a - expected) <= atol + rtol * Math.abs(expected), `${what}: got ${a}, expected ${expected} (diff ${Math.abs(a - expected)})`);
    return;
  }
  const list = (x: unknown): unknown[] | null => (Array.isArray(x) ? x : ArrayBuffer.isView(x) ? Array.from(x as unknown as ArrayLike<number>) : null);
  const a = list(actual);
  const e = list(expected);
  assert.ok(a && e && a.length === e.length, `${what}: length mismatch (${a?.length} vs ${e?.length})`);
  e.forEach((x, i) => close(a[i], x, tol, `${what}[${i}]`));
}

/** max_i |a_i − b_i| over two equally long arrays (asserts the lengths match). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** The message of the SpsError that loading the experiment file `path` raises, the path shown as FILE. */
export async function configError(path: string, overrides: string[] = []): Promise<string> {
  const { loadExperiment } = await import('../src/config/load.js');
  const { allTasks } = await import('../src/train/tasks/index.js');
  const { SpsError } = await import('../src/util/errors.js');
  try {
    await loadExperiment(path, await allTasks(), overrides);
  } catch (e) {
    if (!(e instanceof SpsError)) throw new Error(`expected SpsError, got ${e}`, { cause: e });
    return e.message.replaceAll(path, 'FILE');
  }
  throw new Error('expected an error');
}

/** The two-key sweep of the study tests: 2 × 2 settings of the toy task, stage and joint, one seed. */
export const TOY_STUDY = [
  join(ROOT, 'test/fixtures/toy.yaml'),
  ...TINY_TOY,
  'modes=[stage,joint]',
  'seeds=[0]',
  'data.noise=0.5,1',
  'model.init_scale=0.1,0.2',
];

/** The labels of TOY_STUDY's four settings, as the report and the tables write them. */
export const TOY_STUDY_SETTINGS = [
  'data.noise=0.5, model.init_scale=0.1',
  'data.noise=0.5, model.init_scale=0.2',
  'data.noise=1, model.init_scale=0.1',
  'data.noise=1, model.init_scale=0.2',
];

/** Run TOY_STUDY into `out` through the CLI (8 toy cells, a few seconds each). */
export function runToyStudy(out: string, extra: string[] = []): CliResult {
  return sps(['run', ...TOY_STUDY, '--out', out, '--jobs', '2', ...extra]);
}
