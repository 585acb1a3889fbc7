import { join } from 'node:path';
import { SpsError } from '../util/errors.js';
import { dataFileOf, readDataText } from './read.js';

/**
 * CoNLL-2000 text chunking (Tjong Kim Sang & Buchholz 2000): one token per line, `word POS chunk`
 * separated by single spaces, chunk tags in IOB2 (B-NP, I-NP, O, ...), a blank line between
 * sentences. WSJ sections 15–18 are the training file, section 20 the test file.
 */
export interface Sentence {
  words: string[];
  pos: string[];
  chunks: string[];
}

export const CONLL_FILES = { train: 'train.txt', test: 'test.txt' } as const;
export type ConllPart = keyof typeof CONLL_FILES;

/**
 * A further check of each token, for a task with its own expectations of a column (the POS task's
 * tag set): a message for the error, or undefined when the token is fine.
 */
export type ConllTokenCheck = (token: { word: string; pos: string; chunk: string }) => string | undefined;

/**
 * Parse CoNLL-2000 text into sentences. `source` names the file in errors (`file:line: ...`), and
 * `check`'s message about a token is reported at that token's line.
 */
export function parseConll(text: string, source: string, check?: ConllTokenCheck): Sentence[] {
  const out: Sentence[] = [];
  let cur: Sentence = { words: [], pos: [], chunks: [] };
  const flush = (): void => {
    if (cur.words.length > 0) out.push(cur);
    cur = { words: [], pos: [], chunks: [] };
  };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, '');
    if (line.trim() === '') {
      flush();
      continue;
    }
    const f = line.split(' ');
    if (f.length !== 3 || f.some((x) => x === '')) {
      throw new SpsError(
        `${source}:${n + 1}: expected 3 fields 'word POS chunk-tag' separated by single spaces, found ${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)}`,
      );
    }
    const [word, pos, chunk] = f;
    if (!/^(O|[BI]-[A-Z]+)$/.test(chunk)) throw new SpsError(`${source}:${n + 1}: chunk tag '${chunk}' is not O, B-TYPE or I-TYPE`);
    const problem = check?.({ word, pos, chunk });
    if (problem !== undefined) throw new SpsError(`${source}:${n + 1}: ${problem}`);
    cur.words.push(word);
    cur.pos.push(pos);
    cur.chunks.push(chunk);
  }
  flush();
  if (out.length === 0) throw new SpsError(`${source}: no sentences found`);
  return out;
}

/** Load `<dataDir>/conll2000/{train,test}.txt` (or its `.gz`, as in samples/); errors name the file read. */
export function loadConll(dataDir: string, part: ConllPart, check?: ConllTokenCheck): Sentence[] {
  const path = join(dataDir, 'conll2000', CONLL_FILES[part]);
  const text = readDataText(path, `the CoNLL-2000 ${part} data`, 'prepare it with `sps prepare conll2000` (or `sps prepare conll2000 --from DIR` offline)');
  return parseConll(text, dataFileOf(path), check);
}
