/**
 * Chunk-level precision, recall and F1 with the semantics of the CoNLL shared-task script
 * `conlleval` (Tjong Kim Sang, 2000), so that our numbers are the ones the paper and everyone else
 * report. Written from the script's documented rules:
 *
 * - A tag splits at its first '-' into a prefix and a type ("B-NP" → B, NP; "O" → O, no type).
 * - A chunk ENDS between (prev, cur) when prev/cur is B/B, B/O, I/B, I/O, E/E, E/I or E/O, or when
 *   prev is inside some chunk (prefix not O or '.') and the type changes; a '[' or ']' prev ends one.
 * - A chunk STARTS at cur when prev/cur is B/B, I/B, O/B, O/I, E/E, E/I or O/E, or when cur is
 *   inside some chunk and the type changes; '[' and ']' start one.
 *   Hence "I-NP" after "O" or after "I-VP" starts a chunk, exactly as conlleval does.
 * - A guessed chunk is correct when it starts where a gold chunk starts, with the same type, and
 *   both end at the same place (checked token by token, as the script does).
 * - A sentence boundary acts as an "O" token that is not counted.
 * - Precision = correct / guessed chunks, recall = correct / gold chunks (0 when there are none),
 *   F1 = 2PR/(P+R) (0 when P + R = 0); token accuracy counts tags equal as strings.
 */
export interface ChunkScore {
  precision: number;
  recall: number;
  f1: number;
  /** Token accuracy (%). */
  accuracy: number;
  tokens: number;
  goldChunks: number;
  guessedChunks: number;
  correctChunks: number;
  /** Per chunk type: precision, recall, F1 and counts. */
  byType: Record<string, { precision: number; recall: number; f1: number; gold: number; guessed: number; correct: number }>;
}

function split(tag: string): [string, string] {
  const i = tag.indexOf('-');
  return i < 0 ? [tag, ''] : [tag.slice(0, i), tag.slice(i + 1)];
}

function endsChunk(prev: string, cur: string, prevType: string, type: string): boolean {
  const pair = `${prev}${cur}`;
  if (['BB', 'BO', 'IB', 'IO', 'EE', 'EI', 'EO'].includes(pair)) return true;
  if (prev !== 'O' && prev !== '.' && prevType !== type) return true;
  return prev === '[' || prev === ']';
}

function startsChunk(prev: string, cur: string, prevType: string, type: string): boolean {
  const pair = `${prev}${cur}`;
  if (['BB', 'IB', 'OB', 'OI', 'EE', 'EI', 'OE'].includes(pair)) return true;
  if (cur !== 'O' && cur !== '.' && prevType !== type) return true;
  return cur === '[' || cur === ']';
}

const pct = (a: number, b: number): number => (b === 0 ? 0 : (100 * a) / b);
const f1Of = (p: number, r: number): number => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

/** Score sentences of gold and guessed tag strings (same shapes). */
export function conlleval(gold: readonly (readonly string[])[], guessed: readonly (readonly string[])[]): ChunkScore {
  if (gold.length !== guessed.length) throw new Error(`conlleval: ${gold.length} gold sentences but ${guessed.length} guessed`);
  const count = { gold: new Map<string, number>(), guessed: new Map<string, number>(), correct: new Map<string, number>() };
  const inc = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
  let tokens = 0;
  let correctTags = 0;
  let inCorrect = false;
  let lastG = 'O';
  let lastGType = '';
  let lastP = 'O';
  let lastPType = '';

  const step = (goldTag: string, guessTag: string, counted: boolean): void => {
    const [g, gType] = split(goldTag);
    const [p, pType] = split(guessTag);
    const goldEnds = endsChunk(lastG, g, lastGType, gType);
    const guessEnds = endsChunk(lastP, p, lastPType, pType);
    if (inCorrect) {
      if (goldEnds && guessEnds && lastPType === lastGType) {
        inCorrect = false;
        inc(count.correct, lastGType);
      } else if (goldEnds !== guessEnds || pType !== gType) {
        inCorrect = false;
      }
    }
    const goldStarts = startsChunk(lastG, g, lastGType, gType);
    const guessStarts = startsChunk(lastP, p, lastPType, pType);
    if (goldStarts && guessStarts && pType === gType) inCorrect = true;
    if (goldStarts) inc(count.gold, gType);
    if (guessStarts) inc(count.guessed, pType);
    if (counted) {
      if (goldTag === guessTag) correctTags++;
      tokens++;
    }
    [lastG, lastGType, lastP, lastPType] = [g, gType, p, pType];
  };

  gold.forEach((sentence, s) => {
    if (sentence.length !== guessed[s].length) throw new Error(`conlleval: sentence ${s} has ${sentence.length} gold tags but ${guessed[s].length} guessed`);
    sentence.forEach((tag, t) => step(tag, guessed[s][t], true));
    step('O', 'O', false); // the blank line after every sentence
  });
  if (inCorrect) inc(count.correct, lastGType);

  const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const goldChunks = sum(count.gold);
  const guessedChunks = sum(count.guessed);
  const correctChunks = sum(count.correct);
  const precision = pct(correctChunks, guessedChunks);
  const recall = pct(correctChunks, goldChunks);
  const types = [...new Set([...count.gold.keys(), ...count.guessed.keys()])].sort();
  const byType: ChunkScore['byType'] = {};
  for (const t of types) {
    const gold = count.gold.get(t) ?? 0;
    const guessed = count.guessed.get(t) ?? 0;
    const correct = count.correct.get(t) ?? 0;
    const p = pct(correct, guessed);
    const r = pct(correct, gold);
    byType[t] = { precision: p, recall: r, f1: f1Of(p, r), gold, guessed, correct };
  }
  return { precision, recall, f1: f1Of(precision, recall), accuracy: pct(correctTags, tokens), tokens, goldChunks, guessedChunks, correctChunks, byType };
}

/**
 * Read conlleval's input format (what `predictions.conll` holds): tokens one per line whose last two
 * space-separated fields are the gold and the guessed tag, a blank line between sentences.
 */
export function parseConllevalInput(text: string, source: string): { gold: string[][]; guessed: string[][] } {
  const gold: string[][] = [];
  const guessed: string[][] = [];
  let g: string[] = [];
  let p: string[] = [];
  const flush = (): void => {
    if (g.length > 0) {
      gold.push(g);
      guessed.push(p);
    }
    g = [];
    p = [];
  };
  text.split('\n').forEach((raw, n) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return flush();
    const f = line.trim().split(/\s+/);
    if (f.length < 3) throw new Error(`${source}:${n + 1}: expected at least 3 fields (token ... gold guessed), found ${f.length}`);
    g.push(f[f.length - 2]);
    p.push(f[f.length - 1]);
  });
  flush();
  return { gold, guessed };
}
