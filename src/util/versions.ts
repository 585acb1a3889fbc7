import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

export function spsVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

const require = createRequire(import.meta.url);

/** Installed version of a package, or null when it is not installed. */
export function installedVersion(pkg: string): string | null {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

/** Versions recorded in every run.json. */
export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { sps: spsVersion(), node: process.version };
  for (const p of [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
  ]) {
    const v = installedVersion(p);
    if (v) out[p] = v;
  }
  return out;
}

/**
 * The checkout's commit and whether tracked files that can change what runs have uncommitted
 * changes; nulls outside a git work tree. Changes under results/ and docs/ and to Markdown files do
 * not count: a sweep rewrites its own sweep.json under results/, and reports are written while
 * sweeps run. (The resolved config of a run is in its config.json either way.)
 */
export function gitState(cwd = packageRoot()): { commit: string | null; dirty: boolean | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)results', ':(exclude)docs', ':(exclude)*.md'], {
      cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return { commit: null, dirty: null };
  }
}
