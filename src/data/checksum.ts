import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { SpsError } from '../util/errors.js';

/** sha256 (lower-case hex) of a file, streamed. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export function sha256Bytes(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function isSha256(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

/** A file whose bytes (or decompressed content) do not hash to the value recorded for it. */
export class ChecksumError extends SpsError {
  readonly file: string;
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, expected: string, actual: string, what = 'sha256', where?: string) {
    super(
      `checksum mismatch for ${file}${where ? ` (from ${where})` : ''}: ${what} expected ${expected}, got ${actual}. ` +
        'The file is damaged or a different version; get a fresh copy of it.',
    );
    this.name = 'ChecksumError';
    this.file = file;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Parse a `sha256sum`-format list (`<64 hex>  <path>` per line, `*` binary marker allowed) into
 * path → sha256. Throws on a malformed line or a duplicate path, naming the line.
 */
export function parseSha256List(text: string, source = 'checksum list'): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`${source}, line ${i + 1}: expected "<sha256>  <path>", got ${JSON.stringify(line)}`);
    const path = m[2];
    if (out.has(path)) throw new Error(`${source}, line ${i + 1}: ${path} is listed twice`);
    out.set(path, m[1].toLowerCase());
  }
  return out;
}

export function readSha256List(path: string): Map<string, string> {
  return parseSha256List(readFileSync(path, 'utf8'), path);
}
