/**
 * Verifying one stored file of a data set (download or local import) against its checksums and
 * unpacking it into a folder of its own; tree mirrors that serve the content file by file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { open, readdir, rename } from 'node:fs/promises';
import { isAbsolute, join, win32 } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { SpsError, errorMessage } from '../util/errors.js';
import type { FileProvenance, OutputRecord } from './check.js';
import { ChecksumError, sha256File } from './checksum.js';
import type { DownloadOptions, Downloaded } from './download.js';
import { gunzipOutput, loadManifest, type FileSpec } from './registry.js';
import { fetchTree } from './tree.js';

export interface Stored {
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
    throw new SpsError(
      `${file.name} (from ${stored.where}): cannot read the archive: ${errorMessage(e)}. It is damaged, truncated or not a tar.gz; get a fresh copy.`,
    );
  }
  if (rejected.length) {
    throw new SpsError(
      `${file.name} (from ${stored.where}): refused to unpack unsafe archive entries: ${rejected.slice(0, 5).join(', ')}${rejected.length > 5 ? ` and ${rejected.length - 5} more` : ''}.`,
    );
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
    const shown = problems
      .slice(0, 10)
      .map((p) => `  ${p}`)
      .join('\n');
    throw new SpsError(
      `checksum check of the content of ${file.name} (from ${stored.where}) failed for ${problems.length} file(s):\n${shown}` +
        `${problems.length > 10 ? `\n  … and ${problems.length - 10} more` : ''}\nThe archive is damaged or a different version; get a fresh copy.`,
    );
  }
  return {
    outputs,
    verified: [`sha256 of all ${manifest.size} files in ${file.name} against the checksum list${file.manifest!.file ? ` ${file.manifest!.file}` : ''}`],
  };
}

/**
 * Verify one stored file and unpack it into `outDir` (an empty folder of its own). Throws
 * ChecksumError / SpsError naming the file, the expected and the actual hash.
 */
export async function materialize(file: FileSpec, stored: Stored, outDir: string): Promise<FileProvenance> {
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
        throw new ChecksumError(
          gz ? `${outName} (decompressed ${file.name})` : `${file.name} (not gzip-compressed, taken as ${outName})`,
          file.contentSha256,
          content.sha256,
          'sha256',
          stored.where,
        );
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
export async function fromTrees(f: FileSpec, outDir: string, opts: DownloadOptions): Promise<FileProvenance | { failures: { url: string; reason: string }[] }> {
  const failures: { url: string; reason: string }[] = [];
  if (!f.trees?.length) return { failures };
  const manifest = loadManifest(f.manifest!);
  for (const base of f.trees) {
    opts.log?.(`  ${f.name}: fetching its ${manifest.size} files from ${base}`);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir);
    try {
      const outputs = await fetchTree(base, manifest, outDir, opts);
      const verified = [
        `sha256 of all ${manifest.size} files of ${f.name}, fetched one by one, against the checksum list${f.manifest!.file ? ` ${f.manifest!.file}` : ''}`,
      ];
      return { name: f.name, source: base, unpack: f.unpack, verified, outputs };
    } catch (e) {
      failures.push({ url: `${base} (file by file)`, reason: errorMessage(e) });
      opts.log?.(`  ${base}: ${errorMessage(e)}`);
    }
  }
  return { failures };
}

/** Move everything in `from` into `to` (both folders); an existing name is a spec error. */
export async function mergeInto(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) {
    const dest = join(to, name);
    if (existsSync(dest)) throw new Error(`two files of the data set unpack to the same path ${name}`);
    await rename(join(from, name), dest);
  }
}
