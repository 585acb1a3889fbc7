/**
 * The staging area of a prepare (`<dataDir>/.tmp/`, on the data folder's file system so the final
 * rename is atomic): staging folders named by pid, stale ones removed, the finished copy installed;
 * and finding a data set's files in a local `--from` folder.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SpsError } from '../util/errors.js';
import { removeStale, replaceDir, tempPid } from '../util/fsx.js';
import { fromFolderHint, gunzipOutput, type DatasetSpec, type DeriveSource } from './registry.js';

/** Staging area under the datasets directory (same file system, so the final rename is atomic). */
export const TMP_DIR = '.tmp';

/** Remove staging folders left by sps processes that no longer exist (killed mid-prepare). */
function cleanStale(tmpRoot: string): void {
  removeStale(tmpRoot, (n) => {
    const m = /\.(\d+)\.[^.]+$/.exec(n);
    return m ? Number(m[1]) : undefined;
  });
}

/**
 * Put the complete folder `ready` at `target`. An older copy there is moved aside first and removed
 * only after the new one is in place (and put back if that fails): replaceDir.
 */
export function install(ready: string, target: string): void {
  // An older copy that a kill left aside by an earlier install.
  removeStale(dirname(target), (n) => (n.startsWith(`.${basename(target)}.`) ? tempPid(n) : undefined));
  replaceDir(ready, target);
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
    throw new SpsError(
      `${spec.name}: ${missing.join(', ')} not found (looked in ${where}). To prepare it from a local folder run\n${fromFolderHint(spec, '  ')}`,
    );
  }
  return found;
}

export function mkdirStaging(tmpRoot: string, name: string): Promise<string> {
  mkdirSync(tmpRoot, { recursive: true });
  cleanStale(tmpRoot);
  return mkdtemp(join(tmpRoot, `${name}.${process.pid}.`));
}
