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
