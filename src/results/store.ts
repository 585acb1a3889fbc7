import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { SpsError } from '../util/errors.js';
import { printable } from '../util/text.js';
import type { EpochRecord, FinalRecord, RunRecord, SweepRecord } from '../core/records.js';

export const RUN_FILES = {
  config: 'config.json',
  run: 'run.json',
  metrics: 'metrics.jsonl',
  final: 'final.json',
  log: 'log.txt',
  lock: '.lock',
} as const;

export const SWEEP_FILE = 'sweep.json';

/** Where damaged runs and runs that --force redid are kept (hidden, so tables skip them). */
export const REPLACED_DIR = '.replaced';

/**
 * Folder name of a run: readable cell coordinates, the tag of its swept values in a sweep
 * (`sweepTag`), and the run id that makes it unique.
 */
export function runFolderName(cell: { task: string; objective: string; mode: string; seed: number; id: string }, swept?: Record<string, unknown>): string {
  const tag = swept ? sweepTag(swept) : '';
  return `${cell.task}-${cell.objective}-${cell.mode}-seed${cell.seed}${tag ? `-${tag}` : ''}-${cell.id}`;
}

/** Longest tag value and tag: the tag is for reading; the run id after it is what keeps folders apart. */
const TAG_VALUE_CHARS = 16;
const TAG_CHARS = 48;

/**
 * The swept values as a short file-system-safe tag, e.g. `lr=0.01-alpha=2`: each key by its last
 * segment (the whole path when two swept keys share it), a list's items joined by `_`, every
 * character other than letters, digits, `.`, `+` and `_` replaced by `_`.
 */
export function sweepTag(swept: Record<string, unknown>): string {
  const keys = Object.keys(swept);
  const last = (k: string) => k.slice(k.lastIndexOf('.') + 1);
  const safe = (s: string) => s.replace(/[^A-Za-z0-9.+_]/g, '_');
  const text = (v: unknown): string => (Array.isArray(v) ? v.map(text).join('_') : typeof v === 'string' ? v : JSON.stringify(v));
  const parts = keys.map((k) => {
    const label = keys.some((o) => o !== k && last(o) === last(k)) ? k : last(k);
    return `${safe(label)}=${safe(text(swept[k])).slice(0, TAG_VALUE_CHARS)}`;
  });
  return parts.join('-').slice(0, TAG_CHARS).replace(/-$/, '');
}

/*
 * What the readers rely on in each file. Extra keys are allowed: run.json and final.json carry more
 * (versions, a task's own fields), and older runs must stay readable.
 */
const runSchema = z.looseObject({
  id: z.string(),
  status: z.enum(['running', 'done', 'failed', 'interrupted']),
  experiment: z.string(),
  task: z.string(),
  objective: z.string(),
  mode: z.string(),
  seed: z.number().int(),
  planned_seeds: z.number().int().min(0),
  started_at: z.string(),
  duration_s: z.number().optional(),
  error: z.looseObject({ message: z.string() }).optional(),
  warnings: z.array(z.string()).optional(),
});

/** final.json: the headline metric must be one of the (finite) metrics. */
export const finalSchema = z
  .looseObject({ primary: z.string().min(1), metrics: z.record(z.string(), z.number()) })
  .refine((f) => Object.hasOwn(f.metrics, f.primary), { message: 'names no metric in "metrics"', path: ['primary'] });

const configSchema = z.record(z.string(), z.unknown());

const sweepSchema = z.looseObject({
  experiment: z.string(),
  config_file: z.string(),
  created_at: z.string(),
  cells: z.array(z.looseObject({ id: z.string(), folder: z.string(), task: z.string(), objective: z.string(), mode: z.string(), seed: z.number(), swept: z.record(z.string(), z.unknown()).optional() })),
});

/** A file of a run folder that cannot be used, and why. */
export interface Damage {
  file: string;
  reason: string;
}

type Read<T> = { value?: T; damage?: Damage };

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, 3).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.message}`);
  return shown.join('; ') + (issues.length > 3 ? `; and ${issues.length - 3} more` : '');
}

/**
 * A JSON file checked against `schema`: its value, nothing when it does not exist, or why it is
 * unusable. The schema checks what readers rely on; T is the file's full record type.
 */
function readChecked<T>(path: string, schema: z.ZodType): Read<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    return { damage: { file: path, reason: `cannot be read (${code ?? (e as Error).message})` } };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // The parser quotes the text it choked on: control bytes in it must not reach a terminal.
    return { damage: { file: path, reason: `not valid JSON (${printable((e as Error).message)})` } };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { damage: { file: path, reason: `does not match the ${basename(path)} schema (${describeIssues(parsed.error.issues)})` } };
  return { value: parsed.data as T };
}

/** One line: the damaged file, the cause, and what happens to it / what to do. */
export function damageMessage(dir: string, d: Damage): string {
  return `${d.file}: ${d.reason}. The run is damaged and does not count as done; the next \`sps run\` of its config moves ${dir} to ${join(dirname(dir), REPLACED_DIR)}/ and redoes the cell (or delete that folder).`;
}

/** What a run folder holds, read without throwing. */
export interface RunFolder {
  dir: string;
  run?: RunRecord;
  config?: Record<string, unknown>;
  /** final.json, when it validates. */
  final?: FinalRecord;
  /** The first unusable file (unreadable, not JSON, not matching its schema, or missing though needed). */
  damage?: Damage;
  /** run.json says done and final.json validates: the only finished runs. */
  done: boolean;
}

/**
 * Read a run folder's run.json, config.json and final.json. Writers put config.json first, then
 * run.json, and final.json before run.json says done, so a kill leaves none of these combinations;
 * each means the folder was damaged after the fact:
 * a file that does not parse or validate, run.json done without final.json, final.json without
 * run.json, run.json without config.json.
 */
export function inspectRun(dir: string): RunFolder {
  const run = readChecked<RunRecord>(join(dir, RUN_FILES.run), runSchema);
  const config = readChecked<Record<string, unknown>>(join(dir, RUN_FILES.config), configSchema);
  const final = readChecked<FinalRecord>(join(dir, RUN_FILES.final), finalSchema);
  let damage = run.damage ?? config.damage ?? final.damage;
  if (!damage && run.value?.status === 'done' && !final.value) damage = { file: join(dir, RUN_FILES.final), reason: 'missing, though run.json says done' };
  if (!damage && !run.value && final.value) damage = { file: join(dir, RUN_FILES.run), reason: 'missing, though final.json is there' };
  if (!damage && run.value && !config.value) damage = { file: join(dir, RUN_FILES.config), reason: 'missing, though run.json is there' };
  return { dir, run: run.value, config: config.value, final: final.value, damage, done: !damage && run.value?.status === 'done' && final.value !== undefined };
}

/** A run is finished when run.json says done and final.json validates (final.json is written first). */
export function isDone(dir: string): boolean {
  return inspectRun(dir).done;
}

/** A run folder whose run.json and config.json are readable (its final.json may still be damaged: see `damage`). */
export interface StoredRun extends RunFolder {
  run: RunRecord;
  config: Record<string, unknown>;
}

export interface ResultsScan {
  runs: StoredRun[];
  /** Folders whose run.json or config.json cannot be used: they belong to no cell. */
  unreadable: { dir: string; damage: Damage }[];
  /** Folders with run files but no run.json and nothing damaged (a run killed as it started). */
  incomplete: string[];
}

export function readMetrics(dir: string): EpochRecord[] {
  const path = join(dir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l, i) => ({ l, line: i + 1 }))
    .filter(({ l }) => l.trim() !== '')
    .map(({ l, line }) => {
      try {
        return JSON.parse(l) as EpochRecord;
      } catch (e) {
        throw new SpsError(`${path}:${line}: not valid JSON (${printable((e as Error).message)}). The per-epoch log of this run is damaged (final.json is not affected); rerun the cell with \`sps run CONFIG --force\` to write it again.`);
      }
    });
}

/** Files that only a run folder holds: a folder with any of them (or run.json) is a run folder. */
const RUN_MARKERS: string[] = [RUN_FILES.run, RUN_FILES.config, RUN_FILES.final, RUN_FILES.metrics];

/**
 * Every run folder below `root` (any depth), sorted by path, sorted into readable runs, unreadable
 * ones and incomplete ones. Hidden folders (names starting with '.', e.g. replaced runs and temp
 * files) are skipped. With `experiments`, only those experiments' runs are kept (onlyExperiments).
 */
export function scanResults(root: string, experiments?: readonly string[]): ResultsScan {
  if (!existsSync(root)) throw new SpsError(`${root}: no such results directory. Run an experiment first (sps run CONFIG --out ${root}).`);
  if (!statSync(root).isDirectory()) throw new SpsError(`${root}: a file, not a results directory; give the folder that holds the run folders (the --out of sps run)`);
  const scan: ResultsScan = { runs: [], unreadable: [], incomplete: [] };
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    if (entries.some((e) => e.isFile() && RUN_MARKERS.includes(e.name))) {
      const f = inspectRun(dir);
      if (f.run && f.config) scan.runs.push({ ...f, run: f.run, config: f.config });
      else if (f.damage) scan.unreadable.push({ dir, damage: f.damage });
      else scan.incomplete.push(dir);
      return;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(join(dir, e.name));
  };
  walk(root);
  return experiments === undefined ? scan : onlyExperiments(scan, experiments, root);
}

/**
 * Only the runs of the named experiments (each run's `experiment`, the config's `name`), e.g. the
 * paper's table out of a results folder that also holds studies. Unreadable and incomplete folders
 * name no experiment and are kept, so their warnings still show. A name with no run is an error.
 */
function onlyExperiments(scan: ResultsScan, names: readonly string[], root: string): ResultsScan {
  const found = [...new Set(scan.runs.map((r) => r.run.experiment))].sort();
  const missing = names.filter((n) => !found.includes(n));
  if (missing.length > 0) {
    throw new SpsError(`--experiment: no run of ${missing.map((m) => `"${m}"`).join(', ')} under ${root}; the experiments there are: ${found.join(', ') || 'none'}.`);
  }
  return { ...scan, runs: scan.runs.filter((r) => names.includes(r.run.experiment)) };
}

/** The readable run folders below `root` (see scanResults for the others). */
export function listRuns(root: string): StoredRun[] {
  return scanResults(root).runs;
}

/** Why a folder's sweep.json is unusable and what to do: delete that file alone, never the folder. */
function sweepProblem(d: Damage): string {
  return `${d.file}: ${d.reason}. It only lists the cells planned there (for \`sps ls\`); delete ${d.file} alone, not the folder: the run folders are unaffected and the next \`sps run\` writes it again.`;
}

/** The sweep.json of `dir`: its plan, nothing when there is none, or a message saying why it is unusable. */
export function readSweep(dir: string): { sweep?: SweepRecord; problem?: string } {
  const r = readChecked<SweepRecord>(join(dir, SWEEP_FILE), sweepSchema);
  return r.damage ? { problem: sweepProblem(r.damage) } : { sweep: r.value };
}

/** Every usable sweep.json below `root`, with the folder it lives in, and a message for each unusable one. */
export function listSweeps(root: string): { sweeps: { dir: string; sweep: SweepRecord }[]; problems: string[] } {
  const out: { sweeps: { dir: string; sweep: SweepRecord }[]; problems: string[] } = { sweeps: [], problems: [] };
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    if (entries.some((e) => e.isFile() && RUN_MARKERS.includes(e.name))) return;
    if (entries.some((e) => e.isFile() && e.name === SWEEP_FILE)) {
      const { sweep, problem } = readSweep(dir);
      if (sweep) out.sweeps.push({ dir, sweep });
      if (problem) out.problems.push(problem);
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(join(dir, e.name));
  };
  if (existsSync(root)) walk(root);
  return out;
}
