/**
 * The comparison of scripts/rerun-check.sh: a committed run folder against a rerun of its cell, file
 * by file. Every file of the committed folder must be in the rerun and equal byte for byte, except
 * what records where and when the run happened rather than what it computed:
 *   - run.json and log.txt (times, host, pid) are skipped;
 *   - metrics.jsonl is compared line by line without each epoch's `seconds`;
 *   - final.json's `embeddings.path` (chunking: the absolute path of the word-vector file in the
 *     data folder of the machine that ran it) is compared by file name only, so a rerun reading the
 *     same vectors from another data folder matches. The rest of final.json, the vectors' coverage
 *     and the predictions' checksum included, stays byte for byte.
 * Usage: node --import tsx scripts/rerun-compare.ts COMMITTED_DIR FRESH_DIR (prints a line per file; exit 0 if
 * identical, 1 if not).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

const SKIP = new Set(['run.json', 'log.txt']);

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));

const withoutSeconds = (text: string): string =>
  text
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _seconds, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(rest);
    })
    .join('\n');

/**
 * final.json's text with the word-vector file's folder taken out of `embeddings.path` (the JSON
 * string of the path replaced by that of its file name; nothing else is touched). A replacer
 * function, so that a `$` in a file name is taken literally.
 */
export function placelessFinal(text: string): string {
  const path = (JSON.parse(text) as { embeddings?: { path?: unknown } }).embeddings?.path;
  return typeof path === 'string' ? text.replace(`"path": ${JSON.stringify(path)}`, () => `"path": ${JSON.stringify(basename(path))}`) : text;
}

/**
 * Whether the committed file NAME (relative to its run folder) and its rerun hold the same result.
 */
export function sameArtifact(name: string, committed: Buffer, fresh: Buffer): boolean {
  if (name === 'metrics.jsonl') return withoutSeconds(committed.toString('utf8')) === withoutSeconds(fresh.toString('utf8'));
  if (name === 'final.json') return placelessFinal(committed.toString('utf8')) === placelessFinal(fresh.toString('utf8'));
  return committed.equals(fresh);
}

/**
 * Compares the two folders; returns one line per committed file and the number that differ.
 */
export function compareRuns(committed: string, fresh: string): { lines: string[]; bad: number } {
  const lines: string[] = [];
  let bad = 0;
  for (const file of files(committed)) {
    const name = relative(committed, file);
    if (SKIP.has(name)) continue;
    const other = join(fresh, name);
    const present = existsSync(other);
    const same = present && sameArtifact(name, readFileSync(file), readFileSync(other));
    if (!same) bad++;
    lines.push(`${same ? 'same   ' : 'DIFFERS'} ${name}${present ? '' : ' (not written by the rerun)'}`);
  }
  return { lines, bad };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [committed, fresh] = process.argv.slice(2);
  if (!committed || !fresh) {
    console.error('usage: node --import tsx scripts/rerun-compare.ts COMMITTED_DIR FRESH_DIR');
    process.exit(2);
  }
  const { lines, bad } = compareRuns(committed, fresh);
  for (const l of lines) console.log(l);
  console.log(bad === 0 ? 'identical' : `${bad} file(s) differ`);
  process.exit(bad === 0 ? 0 : 1);
}
