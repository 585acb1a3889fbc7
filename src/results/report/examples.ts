import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { loadOcr, OCR_HEIGHT, OCR_WIDTH, type OcrWord } from '../../data/ocr.js';
import { samplesDir } from '../../data/samples.js';
import { HORSE_ROOT, horseFromJpegs, horseName } from '../../data/weizmann.js';
import { MODES } from '../../core/constants.js';
import { findModeSpec } from '../../core/modes.js';
import { compareModes, compareObjectives } from '../order.js';
import type { StoredRun } from '../store.js';
import { writeFileAtomic } from '../../util/fsx.js';
import { escapeMarkdown, safeFileName } from '../../util/text.js';
import { escapeHtml } from './claims-render.js';

/**
 * Example predictions as PNG thumbnails next to the report: OCR words (letter images with gold and
 * predicted letters) and Weizmann horses (image, gold mask, predicted mask per mode). The inputs'
 * pixels come from the prepared data sets (`dataDir`); without them the figures show what the run
 * folders hold alone (letters; masks) and say so.
 */

export interface ExampleFigure {
  id: string;
  kind: 'ocr-strip' | 'segmentation';
  title: string;
  caption: string;
  html: string;
  markdown: string;
  /** Image files written, relative to the report folder. */
  images: string[];
  notes: string[];
}

/** The paper's scaling modes (their entries say `scales`), in column order. */
const SCALING_MODES: readonly string[] = MODES.filter((m) => findModeSpec(m)?.scales);
export const IMAGE_DIR = 'images';

function donePrimary(r: StoredRun): number | undefined {
  if (r.run.status !== 'done' || !r.final) return undefined;
  const v = r.final.metrics?.[r.final.primary];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

interface Letter { gold: string; predicted: string }

/** predictions.csv of an OCR run: word,position,gold,predicted (letters), grouped by word index. */
export function readOcrPredictions(path: string): Map<number, Letter[]> {
  const words = new Map<number, Letter[]>();
  readFileSync(path, 'utf8').split(/\r?\n/).slice(1).forEach((line) => {
    if (line.trim() === '') return;
    const [w, pos, gold, predicted] = line.split(',');
    const word = Number(w);
    if (!words.has(word)) words.set(word, []);
    words.get(word)![Number(pos)] = { gold, predicted };
  });
  return words;
}

function pngBytes(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb(x, y);
      const i = (y * width + x) * 4;
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

const LETTER_SCALE = 3;
const LETTER_GAP = 2;

/** A word's letter images side by side (16×8 binary pixels each, scaled up). */
export function wordPng(word: OcrWord): Buffer {
  const cell = OCR_WIDTH * LETTER_SCALE + LETTER_GAP;
  const width = word.labels.length * cell - LETTER_GAP;
  const height = OCR_HEIGHT * LETTER_SCALE;
  return pngBytes(width, height, (x, y) => {
    const letter = Math.floor(x / cell);
    const lx = Math.floor((x % cell) / LETTER_SCALE);
    if (lx >= OCR_WIDTH) return [255, 255, 255];
    const ly = Math.floor(y / LETTER_SCALE);
    const on = word.pixels[letter * OCR_WIDTH * OCR_HEIGHT + ly * OCR_WIDTH + lx] === 1;
    return on ? [20, 20, 20] : [235, 235, 235];
  });
}

function markedHtml(letters: Letter[]): string {
  return letters.map((l) => (l.gold === l.predicted ? escapeHtml(l.predicted) : `<mark class="err" title="gold ${escapeHtml(l.gold)}">${escapeHtml(l.predicted)}</mark>`)).join('');
}

function markedMd(letters: Letter[]): string {
  return letters.map((l) => (l.gold === l.predicted ? escapeMarkdown(l.predicted) : `**${escapeMarkdown(l.predicted)}**`)).join('');
}

/**
 * Where a run's input images are read from: the embedded samples for a run made on them
 * (`data.source: sample`); otherwise the prepared data set, or, when that is not prepared, the
 * samples, which hold the first words of each OCR fold and a few horses (only those are shown).
 */
function imageRoot(config: Record<string, unknown>, dataDir: string, dataset: string): { dir: string; note?: string } {
  if ((config.data as { source?: string } | undefined)?.source === 'sample') return { dir: samplesDir() };
  if (existsSync(join(dataDir, dataset))) return { dir: dataDir };
  return { dir: samplesDir(), note: `${join(dataDir, dataset)} is not prepared, so the images come from the embedded sample (samples/${dataset}), which holds only some of the test items (sps prepare ${dataset} shows them all).` };
}

function testWordsOf(config: Record<string, unknown>, words: OcrWord[]): OcrWord[] {
  const d = (config.data ?? {}) as { test_folds?: number[]; test_words?: number | null };
  // The OCR task's test split (src/train/tasks/ocr.ts splitOcr): the test folds in file order, cut to test_words.
  const folds = d.test_folds ?? [0];
  const test = words.filter((w) => folds.includes(w.fold));
  return typeof d.test_words === 'number' ? test.slice(0, d.test_words) : test;
}

/** OCR: up to `count` test words on which joint and the best scaling mode of one seed differ. */
export function ocrStrip(runs: readonly StoredRun[], outDir: string, dataDir: string, count = 8): ExampleFigure | null {
  const ocr = runs.filter((r) => r.run.task === 'ocr' && donePrimary(r) !== undefined && existsSync(join(r.dir, 'predictions.csv')));
  const objectives = [...new Set(ocr.map((r) => r.run.objective))].sort(compareObjectives);
  for (const objective of objectives) {
    const cands = ocr.filter((r) => r.run.objective === objective);
    const seeds = [...new Set(cands.map((r) => r.run.seed))].sort((a, b) => a - b);
    for (const seed of seeds) {
      // A paper claim's comparison (C2–C4: each scaling mode against joint), so it names joint.
      const joint = cands.find((r) => r.run.mode === 'joint' && r.run.seed === seed);
      const scaled = cands.filter((r) => SCALING_MODES.includes(r.run.mode) && r.run.seed === seed).sort((a, b) => donePrimary(b)! - donePrimary(a)! || compareModes(a.run.mode, b.run.mode));
      if (joint && scaled.length > 0) return ocrFigure(joint, scaled[0], outDir, dataDir, count);
    }
  }
  return null;
}

function ocrFigure(joint: StoredRun, best: StoredRun, outDir: string, dataDir: string, count: number): ExampleFigure {
  const pj = readOcrPredictions(join(joint.dir, 'predictions.csv'));
  const pb = readOcrPredictions(join(best.dir, 'predictions.csv'));
  const differs = (w: number) => (pj.get(w) ?? []).some((l, i) => l.predicted !== pb.get(w)?.[i]?.predicted);
  const notes: string[] = [];
  let testWords: OcrWord[] | undefined;
  const root = imageRoot(joint.config, dataDir, 'ocr');
  if (root.note) notes.push(root.note);
  try {
    testWords = testWordsOf(joint.config, loadOcr(root.dir));
  } catch (e) {
    notes.push(`Letter images omitted: ${(e as Error).message}`);
  }
  // Words with letter images first (all of them with the full data set).
  const all = [...pj.keys()].filter((w) => pb.has(w));
  const shown = testWords && all.some((w) => w < testWords!.length) ? all.filter((w) => w < testWords!.length) : all;
  const chosen = [...shown.filter(differs), ...shown.filter((w) => !differs(w))].slice(0, count).sort((a, b) => a - b);
  const { objective, seed } = joint.run;
  const images: string[] = [];
  const rowsHtml: string[] = [];
  const rowsMd: string[] = [];
  for (const w of chosen) {
    const gold = pj.get(w)!.map((l) => l.gold).join('');
    let img = '';
    const word = testWords?.[w];
    if (word && word.labels.map((c) => String.fromCharCode(97 + c)).join('') === gold) {
      // Names from run.json never choose the path: sanitised, they stay one file name inside images/.
      const file = `${IMAGE_DIR}/${safeFileName(`ocr-${objective}-seed${seed}-word${w}.png`)}`;
      writeFileAtomic(join(outDir, file), wordPng(word));
      images.push(file);
      img = file;
    } else if (testWords) {
      notes.push(`Test word ${w}: the prepared data's letters do not match predictions.csv (${gold}); image omitted.`);
    }
    const bl = pb.get(w)!;
    rowsHtml.push(`<tr><td class="num">${w}</td><td>${img ? `<img src="${escapeHtml(img)}" alt="test word ${w}" class="word">` : '—'}</td><td class="mono">${escapeHtml(gold)}</td><td class="mono">${markedHtml(pj.get(w)!)}</td><td class="mono">${markedHtml(bl)}</td></tr>`);
    rowsMd.push(`| ${w} | ${img ? `![test word ${w}](${img})` : '—'} | ${escapeMarkdown(gold)} | ${markedMd(pj.get(w)!)} | ${markedMd(bl)} |`);
  }
  const acc = (r: StoredRun) => `${donePrimary(r)!.toFixed(2)} %`;
  const title = `OCR / ${objective}, seed ${seed}: test words, joint against ${best.run.mode} (the best scaling mode of this seed)`;
  const caption = `Letter images with the gold word and both predictions; wrong letters are marked. Test letter accuracy: joint ${acc(joint)}, ${best.run.mode} ${acc(best)}. Words where the two differ come first. Look at which letters the CRF fixes or breaks.`;
  const head = ['word', 'letters', 'gold', `joint`, `${best.run.mode}`];
  const html = `<table class="examples"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rowsHtml.join('')}</tbody></table>`;
  const markdown = [`| ${head.map(escapeMarkdown).join(' | ')} |`, '| ---: | --- | --- | --- | --- |', ...rowsMd, '', 'Wrong letters are in **bold**.'].join('\n');
  return { id: safeFileName(`ocr-strip-${objective}`), kind: 'ocr-strip', title, caption, html, markdown, images, notes };
}

function rgbPng(image: Float32Array, size: number): Buffer {
  const px = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));
  return pngBytes(size, size, (x, y) => {
    const i = (y * size + x) * 3;
    return [px(image[i]), px(image[i + 1]), px(image[i + 2])];
  });
}

/** Segmentation: for a few test horses, the image, the gold mask and each mode's predicted mask (one seed). */
export function segmentationExamples(runs: readonly StoredRun[], outDir: string, dataDir: string, count = 3): ExampleFigure | null {
  const seg = runs.filter((r) => r.run.task === 'segmentation' && donePrimary(r) !== undefined && existsSync(join(r.dir, 'predictions')));
  if (seg.length === 0) return null;
  const objective = [...new Set(seg.map((r) => r.run.objective))].sort(compareObjectives)[0];
  const seed = Math.min(...seg.filter((r) => r.run.objective === objective).map((r) => r.run.seed));
  const modeRuns = seg.filter((r) => r.run.objective === objective && r.run.seed === seed).sort((a, b) => compareModes(a.run.mode, b.run.mode));
  const notes: string[] = [];
  const images: string[] = [];
  const size = Number((modeRuns[0].config.data as { size?: number } | undefined)?.size ?? 32);
  const where = imageRoot(modeRuns[0].config, dataDir, 'weizmann-horse');
  if (where.note) notes.push(where.note);
  const root = join(where.dir, HORSE_ROOT);
  // Horses whose image is at hand first (all of them with the full data set).
  const all = readdirSync(join(modeRuns[0].dir, 'predictions')).filter((f) => f.endsWith('-pred.png')).map((f) => f.slice(0, -'-pred.png'.length)).sort();
  const withImage = all.filter((n) => existsSync(join(root, 'rgb', `${n}.jpg`)));
  const names = (withImage.length > 0 ? withImage : all).slice(0, count);
  if (!existsSync(root)) notes.push(`Horse images omitted: ${root} is not prepared (sps prepare weizmann-horse).`);
  const copy = (src: string, file: string): string | null => {
    if (!existsSync(src)) return null;
    copyFileSync(src, join(outDir, file));
    images.push(file);
    return file;
  };
  const rowsHtml: string[] = [];
  const rowsMd: string[] = [];
  for (const name of names) {
    let image: string | null = null;
    const index = Number(name.replace(/^horse/, ''));
    if (existsSync(root) && name === horseName(index)) {
      const files = { rgb: join(root, 'rgb', `${name}.jpg`), mask: join(root, 'figure_ground', `${name}.jpg`) };
      const horse = horseFromJpegs(index, readFileSync(files.rgb), readFileSync(files.mask), size, files);
      image = `${IMAGE_DIR}/${safeFileName(`seg-${name}-image.png`)}`;
      writeFileAtomic(join(outDir, image), rgbPng(horse.image, size));
      images.push(image);
    }
    const gold = copy(join(modeRuns[0].dir, 'predictions', `${name}-gold.png`), `${IMAGE_DIR}/${safeFileName(`seg-${name}-gold.png`)}`);
    const preds = modeRuns.map((r) => copy(join(r.dir, 'predictions', `${name}-pred.png`), `${IMAGE_DIR}/${safeFileName(`seg-${objective}-${r.run.mode}-seed${seed}-${name}-pred.png`)}`));
    const cell = (f: string | null, alt: string) => (f ? `<img src="${escapeHtml(f)}" alt="${escapeHtml(alt)}" class="mask">` : '—');
    const cellMd = (f: string | null, alt: string) => (f ? `![${escapeMarkdown(alt)}](${f})` : '—');
    rowsHtml.push(`<tr><td>${escapeHtml(name)}</td><td>${cell(image, `${name} image`)}</td><td>${cell(gold, `${name} gold mask`)}</td>${preds.map((p, i) => `<td>${cell(p, `${name} ${modeRuns[i].run.mode} mask`)}</td>`).join('')}</tr>`);
    rowsMd.push(`| ${escapeMarkdown(name)} | ${cellMd(image, 'image')} | ${cellMd(gold, 'gold')} | ${preds.map((p, i) => cellMd(p, modeRuns[i].run.mode)).join(' | ')} |`);
  }
  const head = ['horse', 'image', 'gold', ...modeRuns.map((r) => `${r.run.mode} (${donePrimary(r)!.toFixed(1)} %)`)];
  const title = `Segmentation / ${objective}, seed ${seed}: test horses, gold and predicted masks per mode`;
  const caption = `White = horse. Headers give each run's test IoU. Look at where the predicted masks leak into the background or lose the legs, and how the modes differ.`;
  const html = `<table class="examples"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rowsHtml.join('')}</tbody></table>`;
  const markdown = [`| ${head.map(escapeMarkdown).join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rowsMd].join('\n');
  return { id: safeFileName(`segmentation-${objective}`), kind: 'segmentation', title, caption, html, markdown, images, notes };
}
