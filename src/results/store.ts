import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SpsError } from '../util/errors.js';
import { readJsonIfExists } from '../util/fsx.js';
import type { EpochRecord, FinalRecord, RunRecord, SweepRecord } from './types.js';

export const RUN_FILES = {
  config: 'config.json',
  run: 'run.json',
  metrics: 'metrics.jsonl',
  final: 'final.json',
  log: 'log.txt',
  lock: '.lock',
} as const;

export const SWEEP_FILE = 'sweep.json';

/** Folder name of a run: readable cell coordinates plus the run id that makes it unique. */
export function runFolderName(cell: { task: string; objective: string; mode: string; seed: number; id: string }): string {
  return `${cell.task}-${cell.objective}-${cell.mode}-seed${cell.seed}-${cell.id}`;
}

export interface StoredRun {
  dir: string;
  run: RunRecord;
  config: Record<string, unknown>;
  final?: FinalRecord;
}

function readJsonNamed<T>(path: string): T | undefined {
  try {
    return readJsonIfExists<T>(path);
  } catch (e) {
    throw new SpsError(`${path}: not valid JSON (${(e as Error).message}). The run folder is damaged; delete it and run the sweep again to redo that cell.`);
  }
}

/** A run is finished when run.json says done and final.json exists (final.json is written first). */
export function isDone(dir: string): boolean {
  const run = readJsonIfExists<RunRecord>(join(dir, RUN_FILES.run));
  return run?.status === 'done' && existsSync(join(dir, RUN_FILES.final));
}

export function readRun(dir: string): StoredRun | undefined {
  const run = readJsonNamed<RunRecord>(join(dir, RUN_FILES.run));
  const config = readJsonNamed<Record<string, unknown>>(join(dir, RUN_FILES.config));
  if (!run || !config) return undefined;
  const final = readJsonNamed<FinalRecord>(join(dir, RUN_FILES.final));
  return { dir, run, config, final };
}

export function readMetrics(dir: string): EpochRecord[] {
  const path = join(dir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochRecord);
}

/**
 * Every run folder below `root` (any depth), sorted by path. Hidden folders (names starting with '.',
 * e.g. replaced runs and temp files) are skipped.
 */
export function listRuns(root: string): StoredRun[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new SpsError(`${root}: no such results directory. Run an experiment first (sps run CONFIG --out ${root}).`);
  }
  const out: StoredRun[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    if (entries.some((e) => e.isFile() && e.name === RUN_FILES.run)) {
      const r = readRun(dir);
      if (r) out.push(r);
      return;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(join(dir, e.name));
  };
  walk(root);
  return out;
}

/** Every sweep.json below `root`, with the folder it lives in. */
export function listSweeps(root: string): { dir: string; sweep: SweepRecord }[] {
  const out: { dir: string; sweep: SweepRecord }[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    if (entries.some((e) => e.isFile() && e.name === RUN_FILES.run)) return;
    if (entries.some((e) => e.isFile() && e.name === SWEEP_FILE)) {
      const sweep = readJsonNamed<SweepRecord>(join(dir, SWEEP_FILE));
      if (sweep) out.push({ dir, sweep });
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(join(dir, e.name));
  };
  if (existsSync(root)) walk(root);
  return out;
}
