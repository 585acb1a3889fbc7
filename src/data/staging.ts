/**
 * The staging area of a prepare (`<dataDir>/.tmp/`, on the data folder's file system so the final
 * rename is atomic): staging folders named by pid, stale ones removed, the finished copy installed;
 * and finding a data set's files in a local `--from` folder.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SpsError } from '../util/errors.js';
import { processAlive } from '../util/process.js';
import { fromFolderHint, gunzipOutput, type DatasetSpec, type DeriveSource } from './registry.js';

/** Staging area under the datasets directory (same file system, so the final rename is atomic). */
export const TMP_DIR = '.tmp';

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
    if (pid !== process.pid && !processAlive(pid)) rmSync(join(tmpRoot, n), { recursive: true, force: true });
  }
}

/**
 * Put the complete folder `ready` at `target`. An older copy there is moved aside first and removed
 * only after the new one is in place (and put back if that fails).
 */
export function install(ready: string, target: string, tmpRoot: string): void {
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

/** A file found in a `--from` folder: the file itself, or (`source`) a public file to cut it from. */
export interface LocalFile {
  path: string;
  source?: DeriveSource;
}

/**
 * For each file of `spec`, where it is under `dir` (directly or in one of the spec's sub-folder
 * names): the file, or failing that a source it is cut from. Optional files that are absent are left out.
 */
export function findLocalFiles(spec: DatasetSpec, dir: string): Map<string, LocalFile> {
  const root = resolve(dir);
  let st;
  try {
    st = statSync(root);
  } catch {
    throw new SpsError(`--from ${dir}: no such folder.`);
  }
  if (!st.isDirectory()) throw new SpsError(`--from ${dir}: not a folder (give the folder that holds the files, not a file).`);
  const bases = [root, ...spec.folderNames.map((n) => join(root, n))];
  const lookup = (names: string[]): string | undefined => {
    for (const b of bases) {
      for (const n of names) {
        const p = join(b, n);
        if (existsSync(p) && statSync(p).isFile()) return p;
      }
    }
    return undefined;
  };
  const found = new Map<string, LocalFile>();
  const missing: string[] = [];
  for (const f of spec.files) {
    // A gunzip file may also be given already decompressed (its output name).
    const hit = lookup(f.unpack === 'gunzip' ? [f.name, gunzipOutput(f)] : [f.name]);
    if (hit) {
      found.set(f.name, { path: hit });
      continue;
    }
    const source = f.derive?.sources.find((s) => lookup([s.name]));
    if (source) found.set(f.name, { path: lookup([source.name])!, source });
    else if (!f.optional) missing.push(f.name);
  }
  if (missing.length) {
    const where = bases.map((b) => `${b}/`).join(', ');
    throw new SpsError(`${spec.name}: ${missing.join(', ')} not found (looked in ${where}). To prepare it from a local folder run\n${fromFolderHint(spec, '  ')}`);
  }
  return found;
}

export function mkdirStaging(tmpRoot: string, name: string): Promise<string> {
  mkdirSync(tmpRoot, { recursive: true });
  cleanStale(tmpRoot);
  return mkdtemp(join(tmpRoot, `${name}.${process.pid}.`));
}
