/**
 * Preparing data sets: `sps prepare` (one or all) and `sps run`'s ensurePrepared. The pieces live in
 * check.ts (provenance and the checksum check of a copy), unpack.ts (verifying and unpacking one
 * file) and staging.ts (staging folders, installing, local imports); their public names are
 * re-exported here.
 */
import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SpsError, errorMessage } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fsx.js';
import { datasetsDir } from '../util/paths.js';
import { spsVersion } from '../util/versions.js';
import { PROVENANCE_FILE, checkDataset, resolveSpec, type FileProvenance, type Provenance } from './check.js';
import { DownloadError, downloadFirst, type DownloadOptions } from './download.js';
import { REGISTRY, fromFolderHint, getDataset, hasAddress, isImportOnly, type DatasetSpec, type FileSpec } from './registry.js';
import { materializeCut } from './derive.js';
import { TMP_DIR, findLocalFiles, install, mkdirStaging } from './staging.js';
import { fromTrees, materialize, mergeInto } from './unpack.js';

export {
  PROVENANCE_FILE,
  VERIFIED_CACHE,
  checkDataset,
  datasetPath,
  listDatasets,
  type DatasetState,
  type FileProvenance,
  type OutputRecord,
  type Provenance,
} from './check.js';
export { TMP_DIR } from './staging.js';

export interface PrepareOptions {
  /** Datasets directory (default: datasetsDir(), i.e. $SPS_DATA_DIR or ./datasets). */
  dataDir?: string;
  /** Import from this local folder instead of downloading. */
  from?: string;
  /** Prepare again even when a verified copy is present (it is replaced only once the new one is complete). */
  force?: boolean;
  log?: (line: string) => void;
  /** Live progress bar on a TTY stderr. */
  progress?: boolean;
  /** Timeout, retries and backoff for downloads. */
  download?: Pick<DownloadOptions, 'timeoutMs' | 'retries' | 'backoffMs'>;
}

export interface PrepareResult {
  name: string;
  path: string;
  action: 'prepared' | 'already-prepared' | 'skipped';
  /** Why a data set was skipped (`prepareAll` without --from, import-only). */
  note?: string;
  provenance?: Provenance;
}

const noop = (): void => {};

/**
 * Prepare one data set: download it (URLs in order, with retries) or import it from `opts.from`,
 * verify every checksum, unpack into a staging folder under `<dataDir>/.tmp/`, write
 * PROVENANCE.json and rename the result to `<dataDir>/<name>`. On any failure the staging folder is
 * removed and an older copy is left untouched. A verified copy already in place is kept (unless `force`).
 */
export async function prepareDataset(specOrName: DatasetSpec | string, opts: PrepareOptions = {}): Promise<PrepareResult> {
  const spec = resolveSpec(specOrName);
  const log = opts.log ?? noop;
  const dataDir = resolve(opts.dataDir ?? datasetsDir());
  const target = join(dataDir, spec.name);

  if (!opts.force) {
    const state = await checkDataset(spec, { dataDir, deep: true });
    if (state.ok) {
      log(`${spec.name}: already prepared and verified at ${target} (use --force to prepare it again)`);
      return { name: spec.name, path: target, action: 'already-prepared', provenance: state.provenance };
    }
    if (state.prepared) log(`${spec.name}: the copy at ${target} fails its check (${state.checksum}); preparing it again`);
  }
  if (!opts.from && isImportOnly(spec)) {
    throw new SpsError(`${spec.name} has no download address; it can only be imported from a local folder:\n${fromFolderHint(spec, '  ')}`);
  }
  const local = opts.from ? findLocalFiles(spec, opts.from) : undefined;

  const tmpRoot = join(dataDir, TMP_DIR);
  const staging = await mkdirStaging(tmpRoot, spec.name);
  const ready = join(staging, 'data');
  try {
    mkdirSync(ready);
    const files: FileProvenance[] = [];
    for (const [i, f] of spec.files.entries()) {
      const outDir = join(staging, `unpack-${i}`);
      let rec: FileProvenance;
      if (local) {
        const found = local.get(f.name);
        if (!found) {
          log(`${spec.name}: ${f.name} (optional) not in ${opts.from}; left out`);
          continue;
        }
        const { path, source } = found;
        log(`${spec.name}: ${source ? `cutting ${f.name} from ${path}` : `importing ${path}`}`);
        mkdirSync(outDir);
        rec = source
          ? await materializeCut(f, source, path, path, outDir)
          : await materialize(f, { path, where: path, movable: false, manifestDirs: [resolve(path, '..')] }, outDir);
      } else if (f.optional) {
        log(`${spec.name}: ${f.name} (optional, no download address) left out; add it with \`sps prepare ${spec.name} --from DIR\``);
        continue;
      } else if (f.urls.length === 0 && f.derive) {
        mkdirSync(outDir);
        rec = await downloadAndCut(spec, f, outDir, tmpRoot, opts, log);
      } else {
        if (f.urls.length === 0 && !f.trees?.length) {
          throw new SpsError(`${spec.name}: ${f.name} has no download address; import the data set instead:\n${fromFolderHint(spec, '  ')}`);
        }
        // Outside the staging folder, which goes with this process: a later `sps` continues it.
        const partial = join(tmpRoot, 'partial');
        mkdirSync(partial, { recursive: true });
        const dest = join(partial, `${spec.name}--${f.name}`);
        try {
          const got = await downloadFirst(
            f.urls,
            dest,
            `${spec.name}/${f.name}`,
            { ...opts.download, log, progress: opts.progress, label: f.name, resume: true },
            async (d) => {
              rmSync(outDir, { recursive: true, force: true });
              mkdirSync(outDir);
              return materialize(f, { path: d.path, where: d.finalUrl, known: d, movable: true, manifestDirs: [] }, outDir);
            },
          );
          rec = got.result;
        } catch (e) {
          if (!(e instanceof DownloadError)) throw e;
          const fromTree = await fromTrees(f, outDir, { ...opts.download, log });
          if (!('failures' in fromTree)) rec = fromTree;
          else {
            const all = new DownloadError(`${spec.name}/${f.name}`, [...e.failures, ...fromTree.failures]);
            throw new SpsError(`${spec.name}: ${all.message}\nTo prepare it from a local copy instead, run\n${fromFolderHint(spec, '  ')}`);
          }
        }
      }
      await mergeInto(outDir, ready);
      rmdirSync(outDir);
      files.push(rec);
      log(`${spec.name}: ${f.name} verified (${rec.verified.join('; ') || 'no pinned checksum'})`);
    }
    const provenance: Provenance = {
      dataset: spec.name,
      description: spec.description,
      method: local ? 'import' : 'download',
      ...(opts.from ? { from: resolve(opts.from) } : {}),
      preparedAt: new Date().toISOString(),
      spsVersion: spsVersion(),
      files,
    };
    writeJsonAtomic(join(ready, PROVENANCE_FILE), provenance);
    install(ready, target);
    log(`${spec.name}: prepared at ${target}`);
    return { name: spec.name, path: target, action: 'prepared', provenance };
  } finally {
    await rm(staging, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    try {
      rmdirSync(join(tmpRoot, 'partial')); // only when no partial download is kept for later
    } catch {
      /* partial downloads to continue, or none made */
    }
    try {
      rmdirSync(tmpRoot); // only when empty
    } catch {
      /* other staging folders in use, or already gone */
    }
  }
}

/** A derived file (registry `derive`): download one of its sources (in order, resumable like any download) and cut it. */
async function downloadAndCut(
  spec: DatasetSpec,
  f: FileSpec,
  outDir: string,
  tmpRoot: string,
  opts: PrepareOptions,
  log: (line: string) => void,
): Promise<FileProvenance> {
  const partial = join(tmpRoot, 'partial');
  mkdirSync(partial, { recursive: true });
  const failures: { url: string; reason: string }[] = [];
  const manual: string[] = [];
  for (const source of f.derive!.sources) {
    if (source.urls.length === 0) {
      if (source.note) manual.push(`${source.name}: ${source.note}`);
      continue;
    }
    try {
      const got = await downloadFirst(
        source.urls,
        join(partial, `${spec.name}--${source.name}`),
        `${spec.name}/${source.name}`,
        { ...opts.download, log, progress: opts.progress, label: source.name, resume: true },
        async (d) => {
          log(`${spec.name}: cutting ${f.name} from ${source.name}`);
          return materializeCut(f, source, d.path, d.finalUrl, outDir);
        },
      );
      return got.result;
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      failures.push(...e.failures);
    }
  }
  const all = new DownloadError(`${spec.name}/${f.name} (cut from ${f.derive!.sources.map((s) => s.name).join(' or ')})`, failures);
  throw new SpsError(
    `${spec.name}: ${all.message}${manual.length ? `\nBy hand: ${manual.join('; ')}.` : ''}\nTo prepare it from a local copy instead, run\n${fromFolderHint(spec, '  ')}`,
  );
}

/**
 * `sps prepare all`: every registry data set in turn. Without `from`, import-only data sets that are
 * not prepared are skipped with a note. Failures do not stop the others; they are collected.
 */
export async function prepareAll(
  opts: PrepareOptions & { registry?: readonly DatasetSpec[] } = {},
): Promise<{ results: PrepareResult[]; failures: { name: string; error: string }[] }> {
  const log = opts.log ?? noop;
  const results: PrepareResult[] = [];
  const failures: { name: string; error: string }[] = [];
  for (const spec of opts.registry ?? REGISTRY) {
    try {
      if (!opts.from && isImportOnly(spec)) {
        const state = await checkDataset(spec, { dataDir: opts.dataDir, deep: true });
        if (state.ok && !opts.force) {
          log(`${spec.name}: already prepared and verified at ${state.path}`);
          results.push({ name: spec.name, path: state.path, action: 'already-prepared', provenance: state.provenance });
        } else {
          const note = `${spec.name}: skipped (no download address; import it with \`sps prepare ${spec.name} --from DIR\`, DIR holding ${spec.files.map((f) => f.name).join(', ')})`;
          log(note);
          results.push({ name: spec.name, path: state.path, action: 'skipped', note });
        }
        continue;
      }
      results.push(await prepareDataset(spec, opts));
    } catch (e) {
      const msg = errorMessage(e);
      const error = msg.startsWith(`${spec.name}: `) ? msg.slice(spec.name.length + 2) : msg;
      log(`${spec.name}: FAILED: ${error}`);
      failures.push({ name: spec.name, error });
    }
  }
  return { results, failures };
}

/** How `sps run` gets the data sets its cells need (`--data-from`, `--no-prepare`). */
export interface EnsureOptions {
  log: (line: string) => void;
  dataDir?: string;
  progress?: boolean;
  download?: PrepareOptions['download'];
  /** Data sets to look names up in (default: the built-in registry). */
  registry?: readonly DatasetSpec[];
  /** Import missing data sets from this folder (`--data-from`, `$SPS_DATA_FROM`) instead of downloading. */
  from?: string;
  /** false (`--no-prepare`): never download or import; a missing data set is an error. */
  prepare?: boolean;
}

/**
 * For `sps run`, before its first cell: every named data set must be prepared and match its
 * checksums. A copy that is present is verified (re-hashing only files changed since the last check)
 * and a mismatch is refused with the command that repairs it. A missing one is imported from `from`,
 * or downloaded, unless `prepare` is false. Returns the verified sha256 of every file, per data set,
 * for run.json. Every error names the data set and gives the exact `sps prepare` command.
 */
export async function ensurePrepared(names: string[], opts: EnsureOptions): Promise<Record<string, Record<string, string>>> {
  const hashes: Record<string, Record<string, string>> = {};
  const fromFlag = opts.from ? ` --from ${opts.from}` : '';
  for (const name of [...new Set(names)]) {
    const spec = getDataset(name, opts.registry);
    // Every byte is hashed once per sps run: a file changed in place with its old size and time given
    // back (touch -r, cp -p, bit rot) would pass a check by size and modification time.
    let state = await checkDataset(spec, { dataDir: opts.dataDir, deep: true });
    if (state.ok) {
      hashes[name] = state.hashes ?? {};
      continue;
    }
    if (state.prepared && state.problems.some((p) => p.startsWith('MISMATCH'))) {
      const detail = state.problems.map((p) => {
        const rel = p.slice('MISMATCH '.length);
        return p.startsWith('MISMATCH') && state.hashes?.[rel] ? `${p} (sha256 ${state.hashes[rel]})` : p;
      });
      throw new SpsError(
        `dataset "${name}" at ${state.path} does not match its checksums: ${detail.join('; ')}.\n` +
          `Its files changed after it was prepared, so no cell was started. Prepare it again (the damaged copy is replaced):\n  sps prepare ${name} --force${fromFlag}`,
      );
    }
    const why = state.prepared ? `its copy at ${state.path} is incomplete (${state.checksum})` : `it is not prepared (${state.path} missing)`;
    const howTo = (spec.files.some(hasAddress) ? `  sps prepare ${name}\nor, offline, ` : '  ') + fromFolderHint(spec, '  ').trimStart();
    if (opts.prepare === false) {
      throw new SpsError(`this run needs dataset "${name}", but ${why}, and --no-prepare was given. Prepare it first:\n${howTo}`);
    }
    if (!opts.from && isImportOnly(spec)) {
      throw new SpsError(
        `this run needs dataset "${name}", but ${why}, and it has no download address. Prepare it from a local folder (or give sps run --data-from DIR):\n${fromFolderHint(spec, '  ')}`,
      );
    }
    opts.log(`${name}: ${why}; ${opts.from ? `importing it from ${opts.from}` : 'downloading it'}`);
    try {
      await prepareDataset(spec, { dataDir: opts.dataDir, from: opts.from, log: opts.log, force: true, progress: opts.progress, download: opts.download });
    } catch (e) {
      const msg = errorMessage(e);
      const hint = msg.includes(`sps prepare ${name} --from`) ? '' : `\nPrepare it from a local folder instead:\n${fromFolderHint(spec, '  ')}`;
      throw new SpsError(`this run needs dataset "${name}", but ${why} and preparing it failed, so no cell was started:\n${msg}${hint}`);
    }
    state = await checkDataset(spec, { dataDir: opts.dataDir, deep: true });
    hashes[name] = state.hashes ?? {};
  }
  return hashes;
}

/**
 * Before one cell: the data sets it reads must still hold the bytes `sps run` verified (`expected`,
 * by data set and file). Files whose size or modification time changed since that check are hashed
 * again; any difference fails the cell before it reads anything. Returns the hashes found, which
 * run.json records as the bytes the cell read.
 */
export async function verifyUnchanged(
  expected: Record<string, Record<string, string>>,
  opts: { dataDir: string; registry?: readonly DatasetSpec[] },
): Promise<Record<string, Record<string, string>>> {
  const found: Record<string, Record<string, string>> = {};
  for (const [name, files] of Object.entries(expected)) {
    const state = await checkDataset(getDataset(name, opts.registry), { dataDir: opts.dataDir, deep: 'cached' });
    const now = state.hashes ?? {};
    const changed = Object.keys(files).filter((f) => now[f] !== files[f]);
    if (changed.length > 0 || !state.ok) {
      const what = changed.length > 0 ? changed.map((f) => `${f} (sha256 ${now[f] ?? 'missing'}, verified ${files[f]})`).join('; ') : state.checksum;
      throw new SpsError(
        `dataset "${name}" at ${state.path} changed after sps run verified it: ${what}. The cell was not started. ` +
          `Prepare it again (sps prepare ${name} --force) and run the same command again.`,
      );
    }
    found[name] = Object.fromEntries(Object.keys(files).map((f) => [f, now[f]]));
  }
  return found;
}
