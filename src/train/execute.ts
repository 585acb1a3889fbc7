import { readdirSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { selectBackend } from '../backend/select.js';
import type { BackendName } from '../core/constants.js';
import { inspectRun, REPLACED_DIR, RUN_FILES } from '../results/store.js';
import type { EpochRecord, FinalRecord, RunRecord } from '../core/records.js';
import { errorMessage, FsError } from '../util/errors.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../util/fsx.js';
import { Rng } from '../util/rng.js';
import { gitState, packageVersions } from '../util/versions.js';
import { DivergenceWatch } from './divergence.js';
import { acquireLock } from './lock.js';
import type { CellConfig, CellContext, EpochInput } from '../core/task.js';
import { datasetRegistry, findTask } from './tasks/index.js';
import { verifyUnchanged } from '../data/prepare.js';

/** What the sweep hands to a worker for one cell. */
export interface Job {
  id: string;
  cell: CellConfig;
  runDir: string;
  dataDir: string;
  force: boolean;
  plannedSeeds: number;
  command: string;
  /** The sha256 of every file of each data set the cell reads, verified by the sweep before it started. */
  datasets?: Record<string, Record<string, string>>;
}

/** Events a worker reports to the sweep (over IPC). */
export type WorkerEvent =
  | { type: 'started'; id: string; backend: string }
  | { type: 'plan'; id: string; epochs: number }
  | { type: 'epoch'; id: string; epoch: number; phase: string; losses: Record<string, number>; metrics: Record<string, number>; seconds: number }
  | { type: 'log'; id: string; line: string }
  | { type: 'done'; id: string; final: FinalRecord; seconds: number }
  | { type: 'failed'; id: string; error: string }
  | { type: 'locked'; id: string; owner: string }
  | { type: 'skipped'; id: string };

export class NonFiniteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

function nonFinite(rec: EpochInput): string | undefined {
  for (const [group, values] of [
    ['loss', rec.losses],
    ['metric', rec.metrics],
  ] as const) {
    for (const [k, v] of Object.entries(values)) if (!Number.isFinite(v)) return `${group} '${k}' is ${v}`;
  }
  if (rec.alpha !== undefined && !Number.isFinite(rec.alpha)) return `alpha is ${rec.alpha}`;
  return undefined;
}

/**
 * Move a run about to be redone into <experiment>/.replaced/: a finished run that --force redoes, or
 * a damaged one (`-damaged-` in its name), so that redoing a cell never destroys a result or the
 * evidence of what went wrong (the table ignores hidden folders).
 */
function setAside(runDir: string, damaged: boolean): string {
  const dest = join(dirname(runDir), REPLACED_DIR, `${basename(runDir)}${damaged ? '-damaged' : ''}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  ensureDir(dirname(dest));
  // One rename of the whole folder (our lock with it): a kill leaves the run either all in place or
  // all set aside, never split between the two.
  try {
    renameSync(runDir, dest);
  } catch (e) {
    throw new FsError(runDir, `move the ${damaged ? 'damaged' : 'finished'} run to ${dest}, so it was not moved and the cell was not redone`, e);
  }
  rmSync(join(dest, RUN_FILES.lock), { force: true });
  return dest;
}

function clearUnfinished(runDir: string): void {
  for (const f of readdirSync(runDir)) if (f !== RUN_FILES.lock) rmSync(join(runDir, f), { recursive: true, force: true });
}

/**
 * Run one cell in this process: lock its folder, write config.json and run.json, run the task, and
 * record the outcome. final.json is written before run.json says `done`, so a kill at any moment
 * leaves either a finished run or one that the next sweep redoes. Returns the process exit code.
 */
export async function executeJob(job: Job, emit: (e: WorkerEvent) => void): Promise<number> {
  ensureDir(job.runDir);
  const lockPath = join(job.runDir, RUN_FILES.lock);
  const lock = acquireLock(lockPath);
  if (!lock.ok) {
    emit({ type: 'locked', id: job.id, owner: `pid ${lock.owner.pid} on ${lock.owner.host} since ${lock.owner.since}` });
    return 0;
  }
  let release = lock.release;
  /**
   * Set the previous run aside (setAside moves the folder with our lock), then take the fresh
   * folder's lock; undefined when another process took it in between (it then runs the cell).
   */
  const setAsideAndRelock = (damaged: boolean): string | undefined => {
    const dest = setAside(job.runDir, damaged);
    ensureDir(job.runDir);
    const again = acquireLock(lockPath);
    if (!again.ok) {
      release = () => {};
      emit({ type: 'locked', id: job.id, owner: `pid ${again.owner.pid} on ${again.owner.host} since ${again.owner.since}` });
      return undefined;
    }
    release = again.release;
    return dest;
  };
  const started = Date.now();
  const logLines: string[] = [];
  const metrics: string[] = [];
  const path = (f: string) => join(job.runDir, f);
  const log = (line: string): void => {
    logLines.push(`${new Date().toISOString()} ${line}`);
    writeFileAtomic(path(RUN_FILES.log), logLines.join('\n') + '\n');
    emit({ type: 'log', id: job.id, line });
  };
  try {
    const previous = inspectRun(job.runDir);
    if (previous.done) {
      if (!job.force) {
        emit({ type: 'skipped', id: job.id });
        return 0;
      }
      const dest = setAsideAndRelock(false);
      if (dest === undefined) return 0;
      logLines.push(`${new Date().toISOString()} --force: the previous finished run was moved to ${dest}`);
    } else if (previous.damage) {
      const dest = setAsideAndRelock(true);
      if (dest === undefined) return 0;
      logLines.push(`${new Date().toISOString()} ${previous.damage.file}: ${previous.damage.reason}; the damaged run was moved to ${dest}`);
    } else {
      clearUnfinished(job.runDir);
    }
    const cell = job.cell;
    const record: RunRecord = {
      id: job.id,
      status: 'running',
      experiment: cell.experiment,
      task: cell.task,
      objective: cell.objective,
      mode: cell.mode,
      seed: cell.seed,
      planned_seeds: job.plannedSeeds,
      started_at: new Date(started).toISOString(),
      versions: packageVersions(),
      git: gitState(),
      host: hostname(),
      pid: process.pid,
      node: process.version,
      command: job.command,
      ...(job.datasets && Object.keys(job.datasets).length > 0 ? { inputs: { datasets: job.datasets } } : {}),
    };
    writeJsonAtomic(path(RUN_FILES.config), cell);
    writeJsonAtomic(path(RUN_FILES.run), record);
    log(`run ${job.id}: task=${cell.task} objective=${cell.objective} mode=${cell.mode} seed=${cell.seed}`);

    let currentEpoch: number | undefined;
    /**
     * The validation metrics (`val_*`) of each epoch: final.json records the last epoch's, or the
     * selected one's (`train.select: best-val`), for `sps table --by` and `sps select`.
     */
    const validations = new Map<number, Record<string, number>>();
    let lastValidation: { epoch: number; metrics: Record<string, number> } | undefined;
    try {
      const task = await findTask(cell.task);
      if (!task) throw new Error(`unknown task '${cell.task}' (is SPS_PLUGINS set as when the sweep was planned?)`);
      if (job.datasets && Object.keys(job.datasets).length > 0) {
        // run.json records the bytes found now, just before the cell reads them.
        record.inputs = { ...record.inputs, datasets: await verifyUnchanged(job.datasets, { dataDir: job.dataDir, registry: datasetRegistry([task]) }) };
        writeJsonAtomic(path(RUN_FILES.run), record);
      }
      const backend = await selectBackend(cell.backend as BackendName);
      record.backend = { name: backend.name, reason: backend.reason };
      writeJsonAtomic(path(RUN_FILES.run), record);
      log(`backend: ${backend.name} (${backend.reason})`);
      emit({ type: 'started', id: job.id, backend: backend.name });

      let lastEpochAt = Date.now();
      const divergence = new DivergenceWatch();
      const ctx: CellContext = {
        cell,
        tf: backend.tf,
        backend: { name: backend.name, reason: backend.reason },
        rng: new Rng(cell.seed),
        runDir: job.runDir,
        dataDir: job.dataDir,
        log,
        plan: (epochs) => emit({ type: 'plan', id: job.id, epochs }),
        epoch: (input) => {
          const now = Date.now();
          const rec: EpochRecord = { ...input, seconds: input.seconds ?? (now - lastEpochAt) / 1000 };
          lastEpochAt = now;
          currentEpoch = rec.epoch;
          const val = Object.entries(rec.metrics).filter(([k]) => k.startsWith('val_'));
          if (val.length > 0) {
            lastValidation = { epoch: rec.epoch, metrics: Object.fromEntries(val) };
            validations.set(rec.epoch, lastValidation.metrics);
          }
          // JSON has no NaN or Infinity: keep them visible as strings rather than as null.
          metrics.push(JSON.stringify(rec, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
          writeFileAtomic(path(RUN_FILES.metrics), metrics.join('\n') + '\n');
          const fmt = (o: Record<string, number>) =>
            Object.entries(o)
              .map(([k, v]) => `${k}=${Number(v.toPrecision(6))}`)
              .join(' ');
          log(
            `epoch ${rec.epoch} [${rec.phase}] ${fmt(rec.losses)} ${fmt(rec.metrics)}${rec.alpha !== undefined ? ` alpha=${rec.alpha}` : ''} (${rec.seconds.toFixed(1)} s)`,
          );
          emit({ type: 'epoch', id: job.id, epoch: rec.epoch, phase: rec.phase, losses: rec.losses, metrics: rec.metrics, seconds: rec.seconds });
          const bad = nonFinite(rec);
          const warning = bad ? undefined : divergence.check(rec);
          if (warning) {
            record.warnings = [...(record.warnings ?? []), warning];
            writeJsonAtomic(path(RUN_FILES.run), record);
            log(`warning: ${warning}`);
          }
          if (bad)
            throw new NonFiniteError(
              `epoch ${rec.epoch} (${rec.phase}): ${bad}; the run diverged. Lower the learning rate (train.lr / train.stage.*_lr) or set train.grad_clip, then run the sweep again (only unfinished cells are redone).`,
            );
        },
        writeArtifact: (name, data) => writeFileAtomic(path(name), data),
        describe: (info) => {
          record.inputs = { ...record.inputs, ...info };
          writeJsonAtomic(path(RUN_FILES.run), record);
        },
        selectEpoch: (epoch) => {
          const metrics = validations.get(epoch);
          if (!metrics) throw new Error(`selectEpoch(${epoch}): no validation metrics were recorded for epoch ${epoch}`);
          lastValidation = { epoch, metrics };
        },
      };
      const final = await task.run(ctx);
      if (lastValidation && final.validation === undefined)
        Object.assign(final, { validation: lastValidation.metrics, validation_epoch: lastValidation.epoch });
      if (!(final.primary in final.metrics)) throw new Error(`task '${task.name}' returned final metrics without its primary metric '${final.primary}'`);
      const badFinal = Object.entries(final.metrics).find(([, v]) => !Number.isFinite(v));
      if (badFinal) throw new NonFiniteError(`final metric '${badFinal[0]}' is ${badFinal[1]}`);
      const ended = Date.now();
      writeJsonAtomic(path(RUN_FILES.final), final);
      Object.assign(record, { status: 'done', ended_at: new Date(ended).toISOString(), duration_s: (ended - started) / 1000 });
      log(`done in ${((ended - started) / 1000).toFixed(1)} s: ${final.primary}=${final.metrics[final.primary]}`);
      writeJsonAtomic(path(RUN_FILES.run), record);
      emit({ type: 'done', id: job.id, final, seconds: (ended - started) / 1000 });
      return 0;
    } catch (e) {
      const ended = Date.now();
      Object.assign(record, {
        status: 'failed',
        ended_at: new Date(ended).toISOString(),
        duration_s: (ended - started) / 1000,
        error: { message: errorMessage(e), stack: e instanceof Error ? e.stack : undefined, ...(currentEpoch !== undefined ? { epoch: currentEpoch } : {}) },
      });
      log(`FAILED: ${errorMessage(e)}`);
      writeJsonAtomic(path(RUN_FILES.run), record);
      emit({ type: 'failed', id: job.id, error: errorMessage(e) });
      return 1;
    }
  } finally {
    release();
  }
}
