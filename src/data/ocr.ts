import { join } from 'node:path';
import { SpsError } from '../util/errors.js';
import { readDataText } from './read.js';

/**
 * The Taskar OCR data set (Taskar, Guestrin & Koller 2003): handwritten words whose capitalised first
 * letter was removed, each letter a 16×8 binary image. File layout (one letter per line, tab-separated,
 * trailing tab): id, letter (a–z), next_id (−1 at the end of a word), word_id, position (1-based),
 * fold (0–9), then 128 pixels p_i_j, row-major (16 rows × 8 columns).
 */
export const OCR_HEIGHT = 16;
export const OCR_WIDTH = 8;
export const OCR_PIXELS = OCR_HEIGHT * OCR_WIDTH;
export const OCR_CLASSES = 26;
export const OCR_FILE = 'letter.data';

export interface OcrWord {
  /** The file's word_id. */
  id: number;
  fold: number;
  /** Letter labels 0..25 (a..z). */
  labels: number[];
  /** labels.length × 128 pixels in {0, 1}, each letter row-major 16×8. */
  pixels: Uint8Array;
}

/** Parse letter.data text into words, in file order. `source` names the file in errors. */
export function parseOcr(text: string, source = OCR_FILE): OcrWord[] {
  const words: OcrWord[] = [];
  let current: { id: number; fold: number; labels: number[]; pixels: number[]; nextId: number } | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === '') continue;
    const where = `${source}:${n + 1}`;
    const f = line.replace(/\t$/, '').split('\t');
    if (f.length !== 6 + OCR_PIXELS)
      throw new SpsError(
        `${where}: expected ${6 + OCR_PIXELS} tab-separated fields (id, letter, next_id, word_id, position, fold, 128 pixels), found ${f.length}`,
      );
    const [idS, letter, nextS, wordS, posS, foldS] = f;
    const ints = [idS, nextS, wordS, posS, foldS].map(Number);
    if (ints.some((x) => !Number.isInteger(x))) throw new SpsError(`${where}: id, next_id, word_id, position and fold must be integers`);
    const [id, nextId, wordId, position, fold] = ints;
    if (!/^[a-z]$/.test(letter)) throw new SpsError(`${where}: letter '${letter}' is not one of a–z`);
    if (fold < 0 || fold > 9) throw new SpsError(`${where}: fold ${fold} is outside 0–9`);
    const pixels = f.slice(6).map((p, i) => {
      if (p !== '0' && p !== '1') throw new SpsError(`${where}: pixel ${i + 1} is '${p}', expected 0 or 1`);
      return p === '1' ? 1 : 0;
    });
    if (current && current.nextId !== id) {
      throw new SpsError(`${where}: letter ${id} does not continue word ${current.id} (its previous letter points to ${current.nextId})`);
    }
    if (!current) {
      if (position !== 1) throw new SpsError(`${where}: word ${wordId} starts at position ${position}, expected 1`);
      current = { id: wordId, fold, labels: [], pixels: [], nextId: id };
    } else if (wordId !== current.id || fold !== current.fold || position !== current.labels.length + 1) {
      throw new SpsError(`${where}: letter ${id} continues word ${current.id} but says word ${wordId}, fold ${fold}, position ${position}`);
    }
    current.labels.push(letter.charCodeAt(0) - 97);
    current.pixels.push(...pixels);
    current.nextId = nextId;
    if (nextId === -1) {
      words.push({ id: current.id, fold: current.fold, labels: current.labels, pixels: Uint8Array.from(current.pixels) });
      current = undefined;
    }
  }
  if (current) throw new SpsError(`${source}: the file ends inside word ${current.id} (its last letter points to ${current.nextId}); the file is truncated`);
  if (words.length === 0) throw new SpsError(`${source}: no letters found`);
  return words;
}

/** Load the prepared data set from `<dataDir>/ocr/letter.data`. */
export function loadOcr(dataDir: string): OcrWord[] {
  const path = join(dataDir, 'ocr', OCR_FILE);
  const text = readDataText(path, 'the OCR data', 'prepare it with `sps prepare ocr` (or `sps prepare ocr --from DIR` offline)');
  return parseOcr(text, path);
}
