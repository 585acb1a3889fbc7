import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';

export const ROOT = resolve(import.meta.dirname, '..');
export const TOY_PLUGIN = join(ROOT, 'test/fixtures/toy-task.ts');
/** The shared real data (CI has it at ../shared/datasets; $SPS_SHARED_DATASETS points elsewhere). */
export const SHARED_DATASETS = resolve(process.env.SPS_SHARED_DATASETS ?? join(ROOT, '../shared/datasets'));

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
