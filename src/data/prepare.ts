import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve, win32 } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { SpsError, errorMessage } from '../util/errors.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fsx.js';
import { datasetsDir } from '../util/paths.js';
import { spsVersion } from '../util/versions.js';
import { ChecksumError, sha256File } from './checksum.js';
import { DownloadError, downloadFirst, type DownloadOptions, type Downloaded } from './download.js';
import { fetchTree } from './tree.js';
import {
  REGISTRY,
  fromFolderHint,
  getDataset,
  gunzipOutput,
  isImportOnly,
  loadManifest,
  validateSpec,
  type DatasetSpec,
  type FileSpec,
  type UnpackKind,
} from './registry.js';

export const PROVENANCE_FILE = 'PROVENANCE.json';
/** Staging area under the datasets directory (same file system, so the final rename is atomic). */
export const TMP_DIR = '.tmp';

export interface OutputRecord {
  /** Path inside the data-set folder, `/`-separated. */
  path: string;
  sha256: string;
  bytes: number;
}

export interface FileProvenance {
  name: string;
  /** URL the bytes came from (after redirects) or the absolute path of the imported file. */
  source: string;
  /** For downloads: the registry URL that was asked for (when it differs from `source`). */
  requestedUrl?: string;
  /** The stored (downloaded or imported) file; absent when a tree mirror served the content file by file. */
  storedSha256?: string;
  storedBytes?: number;
  unpack: UnpackKind;
  /** What was checked against the registry, in words (e.g. "decompressed sha256 of letter.data"). */
  verified: string[];
  outputs: OutputRecord[];
}

/** Contents of `datasets/NAME/PROVENANCE.json`. */
export interface Provenance {
  dataset: string;
  description: string;
  method: 'download' | 'import';
  /** The `--from` folder, for imports. */
  from?: string;
  preparedAt: string;
  spsVersion: string;
  files: FileProvenance[];
}

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

export interface DatasetState {
  name: string;
  path: string;
  importOnly: boolean;
  /** PROVENANCE.json is present (a prepare finished here). */
  prepared: boolean;
  /** Prepared and every expected file present with the expected checksum (or size, for a quick check). */
  ok: boolean;
  /** `ok`, `MISMATCH <file>`, `missing <file>`, `not prepared`, … (first problem, "+N more"). */
  checksum: string;
  problems: string[];
  provenance?: Provenance;
  /** sha256 of every expected file (`/`-separated path → hash), when the check hashed them (deep or cached). */
  hashes?: Record<string, string>;
}

/**
 * The hashes of a verified copy, keyed by size and modification time, so `sps run` re-hashes only a
 * file that changed since the last check (milliseconds when nothing did). It lives inside the data-set
 * folder, so preparing the data set again, which replaces the folder, also drops it.
 */
export const VERIFIED_CACHE = '.sps-verified.json';
type VerifiedCache = Record<string, { bytes: number; mtimeMs: number; sha256: string }>;

const noop = (): void => {};

function resolveSpec(spec: DatasetSpec | string): DatasetSpec {
  const s = typeof spec === 'string' ? getDataset(spec) : spec;
  validateSpec(s);
  return s;
}

/** Where data set `name` (a registry name) is, or will be, prepared. */
export function datasetPath(name: string, dataDir: string = datasetsDir()): string {
  return join(resolve(dataDir), getDataset(name).name);
}

// ---------------------------------------------------------------------------------------------
// Checking a prepared copy

function readProvenance(dir: string): Provenance | undefined {
  try {
    const p = readJsonIfExists<Provenance>(join(dir, PROVENANCE_FILE));
    return p && typeof p === 'object' && Array.isArray(p.files) ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Files a prepared copy must contain → expected sha256 (undefined: no pinned value, the recorded one
 * is used) and recorded size. Pinned values come from the spec; a tar manifest that cannot be loaded
 * falls back to what PROVENANCE.json recorded.
 */
function expectedOutputs(spec: DatasetSpec, prov: Provenance | undefined): Map<string, { sha256?: string; bytes?: number }> {
  const recorded = new Map<string, OutputRecord>();
  for (const f of prov?.files ?? []) for (const o of f.outputs ?? []) recorded.set(o.path, o);
  const out = new Map<string, { sha256?: string; bytes?: number }>();
  const add = (path: string, pinned: string | undefined) => {
    const r = recorded.get(path);
    out.set(path, { sha256: pinned ?? r?.sha256, bytes: r?.bytes });
  };
  for (const f of spec.files) {
    if (f.unpack === 'none') add(f.name, f.sha256);
    else if (f.unpack === 'gunzip') add(gunzipOutput(f), f.contentSha256);
    else {
      let manifest: Map<string, string> | undefined;
      try {
        manifest = loadManifest(f.manifest!);
      } catch {
        manifest = undefined;
      }
      if (manifest) for (const [p, h] of manifest) add(p, h);
      else {
        const pf = prov?.files.find((x) => x.name === f.name);
        for (const o of pf?.outputs ?? []) add(o.path, undefined);
        if (!pf) out.set(`${f.name} (unpacked)`, {});
      }
    }
  }
  return out;
}

function summarize(problems: string[]): string {
  if (problems.length === 0) return 'ok';
  return problems.length === 1 ? problems[0] : `${problems[0]} (+${problems.length - 1} more)`;
}

/**
 * State of a data set under `dataDir`. `deep: true` re-hashes every file (what `sps datasets` and
 * `sps prepare` do); `deep: 'cached'` hashes only files whose size or modification time changed since
 * the last check (what `sps run` does before its first cell); otherwise only presence and recorded
 * sizes are checked.
 */
export async function checkDataset(
  specOrName: DatasetSpec | string,
  opts: { dataDir?: string; deep?: boolean | 'cached' } = {},
): Promise<DatasetState> {
  const spec = resolveSpec(specOrName);
  const path = join(resolve(opts.dataDir ?? datasetsDir()), spec.name);
  const base = { name: spec.name, path, importOnly: isImportOnly(spec) };
  const prov = existsSync(path) ? readProvenance(path) : undefined;
  if (!prov) {
    const why = existsSync(path) ? `not prepared (no valid ${PROVENANCE_FILE})` : 'not prepared';
    return { ...base, prepared: false, ok: false, checksum: why, problems: [why] };
  }
  const problems: string[] = [];
  const hashes: Record<string, string> = {};
  const cachePath = join(path, VERIFIED_CACHE);
  let cache: VerifiedCache = {};
  if (opts.deep === 'cached') {
    try {
      cache = readJsonIfExists<VerifiedCache>(cachePath) ?? {};
    } catch {
      // A damaged cache only costs a re-hash.
    }
  }
  const nextCache: VerifiedCache = {};
  for (const [rel, want] of expectedOutputs(spec, prov)) {
    const file = join(path, ...rel.split('/'));
    let st: { size: number; mtimeMs: number };
    try {
      const s = statSync(file);
      if (!s.isFile()) throw new Error('not a file');
      st = s;
    } catch {
      problems.push(`missing ${rel}`);
      continue;
    }
    if (opts.deep) {
      const hit = cache[rel];
      const sha256 = hit && hit.bytes === st.size && hit.mtimeMs === st.mtimeMs ? hit.sha256 : (await sha256File(file)).sha256;
      hashes[rel] = sha256;
      if (want.sha256 !== undefined && sha256 !== want.sha256) problems.push(`MISMATCH ${rel}`);
      else nextCache[rel] = { bytes: st.size, mtimeMs: st.mtimeMs, sha256 };
    } else if (want.bytes !== undefined && st.size !== want.bytes) {
      problems.push(`MISMATCH ${rel} (size ${st.size}, recorded ${want.bytes})`);
    }
  }
  if (opts.deep === 'cached') {
    try {
      writeJsonAtomic(cachePath, nextCache);
    } catch {
      // A read-only data folder is fine: the next run hashes again.
    }
  }
  const hashed = opts.deep ? { hashes } : {};
  return { ...base, prepared: true, ok: problems.length === 0, checksum: summarize(problems), problems, provenance: prov, ...hashed };
}

/** States of every registry data set (deep check by default: re-hashes the prepared files). */
export async function listDatasets(opts: { dataDir?: string; deep?: boolean; registry?: readonly DatasetSpec[] } = {}): Promise<DatasetState[]> {
  const out: DatasetState[] = [];
  for (const spec of opts.registry ?? REGISTRY) out.push(await checkDataset(spec, { dataDir: opts.dataDir, deep: opts.deep ?? true }));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Unpacking and verifying one file

interface Stored {
  /** Path of the stored bytes (downloaded temp file or the imported original). */
  path: string;
  /** URL or absolute path, for messages and provenance. */
  where: string;
  /** Already computed while downloading. */
  known?: Downloaded;
  /** The stored file may be moved rather than copied (a download temp file). */
  movable: boolean;
  /** Extra folders where a tar manifest may be found (the --from folder). */
  manifestDirs: string[];
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Stream `src` (optionally gunzipped) into `dest`, returning the sha256 and size of what was written. */
async function copyHashing(src: string, dest: string, gunzip: boolean): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  };
  if (gunzip) await pipeline(createReadStream(src), createGunzip(), tap, createWriteStream(dest));
  else await pipeline(createReadStream(src), tap, createWriteStream(dest));
  return { sha256: hash.digest('hex'), bytes };
}

async function walkFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await walkFiles(root, r)));
    else out.push(r);
  }
  return out.sort();
}

function unsafeTarPath(p: string): boolean {
  const n = p.replace(/\\/g, '/');
  return isAbsolute(n) || win32.isAbsolute(p) || /^[a-zA-Z]:/.test(n) || n.split('/').includes('..');
}

const TAR_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'GNUDumpDir']);

async function unpackTar(file: FileSpec, stored: Stored, outDir: string): Promise<{ outputs: OutputRecord[]; verified: string[] }> {
  const manifest = loadManifest(file.manifest!, stored.manifestDirs);
  // First pass lists the archive without writing anything: a damaged or truncated archive, or an
  // unsafe entry, is refused before a single file is created (and no extraction is left running
  // while the staging folder is removed).
  const rejected: string[] = [];
  try {
    await tar.t({
      file: stored.path,
      strict: true,
      filter: (p, entry) => {
        const type = 'type' in entry ? String(entry.type) : 'File';
        if (unsafeTarPath(p)) rejected.push(`${p} (absolute path or "..")`);
        else if (!TAR_TYPES.has(type)) rejected.push(`${p} (${type} entries are not allowed)`);
        return false;
      },
    });
  } catch (e) {
    throw new SpsError(`${file.name} (from ${stored.where}): cannot read the archive: ${errorMessage(e)}. It is damaged, truncated or not a tar.gz; get a fresh copy.`);
  }
  if (rejected.length) {
    throw new SpsError(`${file.name} (from ${stored.where}): refused to unpack unsafe archive entries: ${rejected.slice(0, 5).join(', ')}${rejected.length > 5 ? ` and ${rejected.length - 5} more` : ''}.`);
  }
  try {
    await tar.x({
      file: stored.path,
      cwd: outDir,
      strict: true,
      preserveOwner: false,
      // Same rules again (the file could have changed since the listing).
      filter: (p, entry) => !unsafeTarPath(p) && TAR_TYPES.has('type' in entry ? String(entry.type) : 'File'),
    });
  } catch (e) {
    throw new SpsError(`${file.name} (from ${stored.where}): cannot unpack: ${errorMessage(e)}.`);
  }
  const found = await walkFiles(outDir);
  const problems: string[] = [];
  const outputs: OutputRecord[] = [];
  const foundSet = new Set(found);
  for (const rel of found) {
    const { sha256, bytes } = await sha256File(join(outDir, ...rel.split('/')));
    const want = manifest.get(rel);
    if (want === undefined) problems.push(`extra file ${rel} (sha256 ${sha256}) is not in the checksum list`);
    else if (want !== sha256) problems.push(`${rel}: sha256 expected ${want}, got ${sha256}`);
    outputs.push({ path: rel, sha256, bytes });
  }
  for (const [rel, want] of manifest) if (!foundSet.has(rel)) problems.push(`missing ${rel} (expected sha256 ${want})`);
  if (problems.length) {
    const shown = problems.slice(0, 10).map((p) => `  ${p}`).join('\n');
    throw new SpsError(
      `checksum check of the content of ${file.name} (from ${stored.where}) failed for ${problems.length} file(s):\n${shown}` +
        `${problems.length > 10 ? `\n  … and ${problems.length - 10} more` : ''}\nThe archive is damaged or a different version; get a fresh copy.`,
    );
  }
  return { outputs, verified: [`sha256 of all ${manifest.size} files in ${file.name} against the checksum list${file.manifest!.file ? ` ${file.manifest!.file}` : ''}`] };
}

/**
 * Verify one stored file and unpack it into `outDir` (an empty folder of its own). Throws
 * ChecksumError / SpsError naming the file, the expected and the actual hash.
 */
async function materialize(file: FileSpec, stored: Stored, outDir: string): Promise<FileProvenance> {
  const { sha256: storedSha256, bytes: storedBytes } = stored.known ?? (await sha256File(stored.path));
  const verified: string[] = [];
  if (file.sha256) {
    if (storedSha256 !== file.sha256) throw new ChecksumError(file.name, file.sha256, storedSha256, 'sha256', stored.where);
    verified.push(`sha256 of ${file.name}`);
  }
  let outputs: OutputRecord[];
  if (file.unpack === 'none') {
    const dest = join(outDir, file.name);
    if (stored.movable) await rename(stored.path, dest);
    else {
      const copied = await copyHashing(stored.path, dest, false);
      if (copied.sha256 !== storedSha256) throw new SpsError(`${file.name} changed while it was being copied from ${stored.where}; try again.`);
    }
    outputs = [{ path: file.name, sha256: storedSha256, bytes: storedBytes }];
  } else if (file.unpack === 'gunzip') {
    const outName = gunzipOutput(file);
    const gz = await isGzip(stored.path);
    let content: { sha256: string; bytes: number };
    try {
      content = await copyHashing(stored.path, join(outDir, outName), gz);
    } catch (e) {
      throw new SpsError(`${file.name} (from ${stored.where}): cannot decompress: ${errorMessage(e)}. The file is damaged or truncated; get a fresh copy.`);
    }
    if (file.contentSha256) {
      if (content.sha256 !== file.contentSha256) {
        throw new ChecksumError(gz ? `${outName} (decompressed ${file.name})` : `${file.name} (not gzip-compressed, taken as ${outName})`, file.contentSha256, content.sha256, 'sha256', stored.where);
      }
      verified.push(`sha256 of ${outName} (decompressed ${file.name})`);
    }
    outputs = [{ path: outName, ...content }];
  } else {
    const r = await unpackTar(file, stored, outDir);
    outputs = r.outputs;
    verified.push(...r.verified);
  }
  const rec: FileProvenance = {
    name: file.name,
    source: stored.known?.finalUrl ?? stored.where,
    storedSha256,
    storedBytes,
    unpack: file.unpack,
    verified,
    outputs,
  };
  if (stored.known && stored.known.finalUrl !== stored.known.url) rec.requestedUrl = stored.known.url;
  return rec;
}

/** The file's tree mirrors in turn (`FileSpec.trees`): the first that serves every file with its checksum. */
async function fromTrees(f: FileSpec, outDir: string, opts: DownloadOptions): Promise<FileProvenance | { failures: { url: string; reason: string }[] }> {
  const failures: { url: string; reason: string }[] = [];
  if (!f.trees?.length) return { failures };
  const manifest = loadManifest(f.manifest!);
  for (const base of f.trees) {
    opts.log?.(`  ${f.name}: fetching its ${manifest.size} files from ${base}`);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir);
    try {
      const outputs = await fetchTree(base, manifest, outDir, opts);
      const verified = [`sha256 of all ${manifest.size} files of ${f.name}, fetched one by one, against the checksum list${f.manifest!.file ? ` ${f.manifest!.file}` : ''}`];
      return { name: f.name, source: base, unpack: f.unpack, verified, outputs };
    } catch (e) {
      failures.push({ url: `${base} (file by file)`, reason: errorMessage(e) });
      opts.log?.(`  ${base}: ${errorMessage(e)}`);
    }
  }
  return { failures };
}

/** Move everything in `from` into `to` (both folders); an existing name is a spec error. */
async function mergeInto(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) {
    const dest = join(to, name);
    if (existsSync(dest)) throw new Error(`two files of the data set unpack to the same path ${name}`);
    await rename(join(from, name), dest);
  }
}

// ---------------------------------------------------------------------------------------------
// Staging and installing

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove staging folders left by sps processes that no longer exist (killed mid-prepare). */
function cleanStale(tmpRoot: string): void {
  let names: string[];
  try {
    names = readdirSync(tmpRoot);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /\.(\d+)\.[^.]+$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !pidAlive(pid)) rmSync(join(tmpRoot, n), { recursive: true, force: true });
  }
}

/**
 * Put the complete folder `ready` at `target`. An older copy there is moved aside first and removed
 * only after the new one is in place (and put back if that fails).
 */
function install(ready: string, target: string, tmpRoot: string): void {
  try {
    renameSync(ready, target);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  }
  const old = join(tmpRoot, `old-${target.split(/[\\/]/).pop()}.${process.pid}.${Date.now().toString(36)}`);
  renameSync(target, old);
  try {
    renameSync(ready, target);
  } catch (e) {
    renameSync(old, target);
    throw e;
  }
  rmSync(old, { recursive: true, force: true });
}

/** For each file of `spec`, where it is under `dir` (directly or in one of the spec's sub-folder names). */
function findLocalFiles(spec: DatasetSpec, dir: string): Map<string, string> {
  const root = resolve(dir);
  let st;
  try {
    st = statSync(root);
  } catch {
    throw new SpsError(`--from ${dir}: no such folder.`);
  }
  if (!st.isDirectory()) throw new SpsError(`--from ${dir}: not a folder (give the folder that holds the files, not a file).`);
  const bases = [root, ...spec.folderNames.map((n) => join(root, n))];
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const f of spec.files) {
    // A gunzip file may also be given already decompressed (its output name).
    const names = f.unpack === 'gunzip' ? [f.name, gunzipOutput(f)] : [f.name];
    let hit: string | undefined;
    for (const b of bases) {
      for (const n of names) {
        const p = join(b, n);
        if (existsSync(p) && statSync(p).isFile()) {
          hit = p;
          break;
        }
      }
      if (hit) break;
    }
    if (hit) found.set(f.name, hit);
    else missing.push(f.name);
  }
  if (missing.length) {
    const where = bases.map((b) => `${b}/`).join(', ');
    throw new SpsError(`${spec.name}: ${missing.join(', ')} not found (looked in ${where}). To prepare it from a local folder run\n  ${fromFolderHint(spec).replace('\n', '\n  ')}`);
  }
  return found;
}

function mkdirStaging(tmpRoot: string, name: string): Promise<string> {
  mkdirSync(tmpRoot, { recursive: true });
  cleanStale(tmpRoot);
  return mkdtemp(join(tmpRoot, `${name}.${process.pid}.`));
}

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
    throw new SpsError(`${spec.name} has no download address; it can only be imported from a local folder:\n  ${fromFolderHint(spec).replace('\n', '\n  ')}`);
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
        const path = local.get(f.name)!;
        log(`${spec.name}: importing ${path}`);
        mkdirSync(outDir);
        rec = await materialize(f, { path, where: path, movable: false, manifestDirs: [resolve(path, '..')] }, outDir);
      } else {
        if (f.urls.length === 0 && !f.trees?.length) {
          throw new SpsError(`${spec.name}: ${f.name} has no download address; import the data set instead:\n  ${fromFolderHint(spec).replace('\n', '\n  ')}`);
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
            throw new SpsError(`${spec.name}: ${all.message}\nTo prepare it from a local copy instead, run\n  ${fromFolderHint(spec).replace('\n', '\n  ')}`);
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
    install(ready, target, tmpRoot);
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
    let state = await checkDataset(spec, { dataDir: opts.dataDir, deep: 'cached' });
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
    const howTo = (spec.files.some((f) => f.urls.length > 0) ? `  sps prepare ${name}\nor, offline, ` : '  ') + fromFolderHint(spec).replace('\n', '\n  ');
    if (opts.prepare === false) {
      throw new SpsError(`this run needs dataset "${name}", but ${why}, and --no-prepare was given. Prepare it first:\n${howTo}`);
    }
    if (!opts.from && isImportOnly(spec)) {
      throw new SpsError(`this run needs dataset "${name}", but ${why}, and it has no download address. Prepare it from a local folder (or give sps run --data-from DIR):\n  ${fromFolderHint(spec).replace('\n', '\n  ')}`);
    }
    opts.log(`${name}: ${why}; ${opts.from ? `importing it from ${opts.from}` : 'downloading it'}`);
    try {
      await prepareDataset(spec, { dataDir: opts.dataDir, from: opts.from, log: opts.log, force: true, progress: opts.progress, download: opts.download });
    } catch (e) {
      const msg = errorMessage(e);
      const hint = msg.includes(`sps prepare ${name} --from`) ? '' : `\nPrepare it from a local folder instead:\n  ${fromFolderHint(spec).replace('\n', '\n  ')}`;
      throw new SpsError(`this run needs dataset "${name}", but ${why} and preparing it failed, so no cell was started:\n${msg}${hint}`);
    }
    state = await checkDataset(spec, { dataDir: opts.dataDir, deep: 'cached' });
    hashes[name] = state.hashes ?? {};
  }
  return hashes;
}
