/**
 * What every bench invocation (scripts/bench.ts) shares: the summary of repeated passes, the Python
 * that has PyTorch, and the record of a run written to bench/results/<ISO time>-<suite>.json.
 * The summaries are pure (test/bench.test.ts); the rest reads the machine.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { ensureDir, writeJsonAtomic } from '../src/util/fsx.js';
import { gitState, packageVersions } from '../src/util/versions.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Every pass's figure, in pass order (NaN for a pass that failed). */
  values: number[];
}

/** Median (mean of the middle two for an even count), min and max of the finite values; NaN when there are none. */
export function spread(values: readonly number[]): Spread {
  const ok = values.filter(Number.isFinite).sort((a, b) => a - b);
  const n = ok.length;
  const median = n === 0 ? NaN : n % 2 ? ok[(n - 1) / 2] : (ok[n / 2 - 1] + ok[n / 2]) / 2;
  return { median, min: n ? ok[0] : NaN, max: n ? ok[n - 1] : NaN, values: [...values] };
}

/** "42.4 (39.0–44.1)": the median and range of a spread, or "—" without a finite value. */
export function formatSpread(s: Spread, digits = 1): string {
  if (!Number.isFinite(s.median)) return '—';
  return s.min === s.max ? s.median.toFixed(digits) : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** The ratio of two medians, sps over PyTorch: above 1, sps is faster. */
export function ratioOfMedians(sps: Spread, other: Spread | undefined): number {
  return other && Number.isFinite(sps.median) && Number.isFinite(other.median) && other.median > 0 ? sps.median / other.median : NaN;
}

/** The models of bench/models.ts that bench/pytorch_models.py has a twin of (its BENCHES; a test keeps the two equal). */
export const PYTORCH_TWINS: readonly string[] = ['lenet', 'lenet-crf', 'matmul', 'bilstm-crf', 'unet'];

export const INSTALL_TORCH = 'sudo scripts/install-torch.sh   (apt-get install python3-torch; or point SPS_PYTHON at a python with torch)';

/**
 * The Python that imports torch: $SPS_PYTHON when set (and only it), else the first of python3 on
 * PATH and /usr/bin/python3 (Debian's python3-torch installs for the latter, which may not be PATH's
 * python3, e.g. under pyenv).
 */
export function findTorchPython(): { python: string; torch: string } | { python: null; tried: string[] } {
  const tried = process.env.SPS_PYTHON ? [process.env.SPS_PYTHON] : ['python3', '/usr/bin/python3'];
  for (const python of tried) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    if (r.status === 0) return { python, torch: r.stdout.trim() };
  }
  return { python: null, tried };
}

/** The CPU model of /proc/cpuinfo (os.cpus() elsewhere). */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

export interface BenchRecord {
  suite: string;
  started_at: string;
  ended_at: string;
  command: string;
  git: { commit: string | null; dirty: boolean | null };
  machine: { cpu: string; cores: number; loadavg_before: number[]; loadavg_after: number[] };
  versions: Record<string, string | null>;
  options: Record<string, unknown>;
  /** What the figures assume (the cells projection). */
  assumptions?: string[];
  rows: unknown[];
  [extra: string]: unknown;
}

/** Starts a record: call at the beginning of a bench run (for the time and load average before it). */
export function startRecord(
  suite: string,
  options: Record<string, unknown>,
): { finish(rows: unknown[], extra?: Record<string, unknown>, torch?: string | null): string } {
  const startedAt = new Date();
  const before = loadavg();
  return {
    finish(rows, extra = {}, torch = null) {
      const record: BenchRecord = {
        suite,
        started_at: startedAt.toISOString(),
        ended_at: new Date().toISOString(),
        command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
        git: gitState(),
        machine: { cpu: cpuModel(), cores: cpus().length, loadavg_before: before, loadavg_after: loadavg() },
        versions: { ...packageVersions(), torch },
        options,
        ...extra,
        rows,
      };
      const dir = join(packageRoot(), 'bench', 'results');
      ensureDir(dir);
      // Colons are legal on Linux but not in every tool's file names; the Z keeps it unambiguous.
      const file = join(
        dir,
        `${startedAt
          .toISOString()
          .replace(/:/g, '-')
          .replace(/\.\d+Z$/, 'Z')}-${suite}.json`,
      );
      writeJsonAtomic(file, record);
      return file;
    },
  };
}
