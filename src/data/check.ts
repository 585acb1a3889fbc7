/**
 * What a prepared data set is: its folder, PROVENANCE.json and the check of a copy against its
 * checksums (`sps datasets`, `sps run`'s data check). Preparing one is prepare.ts.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJsonIfExists, removeStale, tempPid, writeJsonAtomic } from '../util/fsx.js';
import { datasetsDir } from '../util/paths.js';
import { sha256File } from './checksum.js';
import { REGISTRY, getDataset, gunzipOutput, isImportOnly, loadManifest, validateSpec, type DatasetSpec, type UnpackKind } from './registry.js';

export const PROVENANCE_FILE = 'PROVENANCE.json';

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
  /** The file was cut from this public file (registry `derive`), which is what `source` names. */
  cutFrom?: string;
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

export function resolveSpec(spec: DatasetSpec | string): DatasetSpec {
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
    // An optional file is part of a copy only when it was prepared into it.
    if (f.optional && !prov?.files.some((x) => x.name === f.name)) continue;
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
export async function checkDataset(specOrName: DatasetSpec | string, opts: { dataDir?: string; deep?: boolean | 'cached' } = {}): Promise<DatasetState> {
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
  if (opts.deep) {
    // What a kill in the middle of writing the cache left behind, then this check's hashes: a full
    // check refreshes them too, so the per-cell check of `sps run` (deep: 'cached') starts from the
    // bytes the sweep has just read.
    removeStale(path, (n) => (n.startsWith(`.${VERIFIED_CACHE}.`) ? tempPid(n) : undefined));
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
