import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';

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

/** Start `sps ARGS` in its own process group (so a test can SIGKILL it and its workers at once). */
export function spsSpawn(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin/sps'), ...args], { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * The back end the numerical suites run on: $SPS_TEST_BACKEND (cpu by default, the reference; wasm
 * with sps's training kernels registered, as `npm test` runs the CRF suites a second time).
 */
export async function useTestBackend(): Promise<string> {
  const { selectBackend } = await import('../src/backend/select.js');
  const name = process.env.SPS_TEST_BACKEND || 'cpu';
  if (name !== 'cpu' && name !== 'wasm') throw new Error(`SPS_TEST_BACKEND=${name}: expected cpu or wasm`);
  const b = await selectBackend(name);
  if (b.tf.getBackend() !== name) throw new Error(`could not activate the ${name} back end`);
  return name;
}
