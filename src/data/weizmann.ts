import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { SpsError } from '../util/errors.js';

/**
 * The Weizmann Horse Database (Borenstein & Ullman 2002): 328 side views of horses, each a colour
 * image (`rgb/horseNNN.jpg`) and a hand-segmented figure/ground mask (`figure_ground/horseNNN.jpg`,
 * white = horse, stored as JPEG). The rgb images are larger than the masks but have the same aspect
 * ratio, so both are resized to one common size before pixels are paired.
 */
export const HORSE_COUNT = 328;
export const HORSE_ROOT = join('weizmann-horse', 'weizmann_horse_db');

export interface Horse {
  /** 1..328, from the file name. */
  index: number;
  /** `horseNNN`. */
  name: string;
  /** [size, size, 3] row-major RGB in [0, 1]. */
  image: Float32Array;
  /** [size, size] row-major: 1 = horse, 0 = background (the resized mask thresholded at 128). */
  mask: Uint8Array;
}

export const horseName = (i: number): string => `horse${String(i).padStart(3, '0')}`;

/** Decode a JPEG to RGBA bytes; `file` names it in errors. */
export function decodeJpeg(bytes: Uint8Array, file: string): { width: number; height: number; data: Uint8Array } {
  try {
    return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 50 });
  } catch (e) {
    throw new SpsError(`${file}: not a readable JPEG (${(e as Error).message}); re-import the data set with \`sps prepare weizmann-horse --from DIR\``);
  }
}

/**
 * Area (box-filter) resampling of an RGBA image's first `channels` channels to `size`×`size`: every
 * output pixel is the mean of the input area it covers, with fractional edge weights. Right for the
 * large down-scaling here (≈300 px → 32 px), where bilinear sampling would alias.
 */
export function resizeArea(rgba: Uint8Array, width: number, height: number, size: number, channels: number): Float32Array {
  const out = new Float32Array(size * size * channels);
  const sx = width / size;
  const sy = height / size;
  for (let oy = 0; oy < size; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < size; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      const acc = new Float64Array(channels);
      let total = 0;
      for (let y = Math.floor(y0); y < Math.min(height, Math.ceil(y1)); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(width, Math.ceil(x1)); x++) {
          const w = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
          const p = (y * width + x) * 4;
          for (let c = 0; c < channels; c++) acc[c] += w * rgba[p + c];
          total += w;
        }
      }
      for (let c = 0; c < channels; c++) out[(oy * size + ox) * channels + c] = acc[c] / total;
    }
  }
  return out;
}

/** One horse at `size`×`size` from the two JPEGs' bytes. */
export function horseFromJpegs(index: number, rgbBytes: Uint8Array, maskBytes: Uint8Array, size: number, files: { rgb: string; mask: string }): Horse {
  const rgb = decodeJpeg(rgbBytes, files.rgb);
  const m = decodeJpeg(maskBytes, files.mask);
  const ratio = rgb.width / rgb.height / (m.width / m.height);
  if (Math.abs(ratio - 1) > 0.02) {
    throw new SpsError(
      `${files.rgb} (${rgb.width}×${rgb.height}) and ${files.mask} (${m.width}×${m.height}) have different aspect ratios; the data set copy is not the Weizmann one`,
    );
  }
  const image = resizeArea(rgb.data, rgb.width, rgb.height, size, 3).map((v) => v / 255);
  const grey = resizeArea(m.data, m.width, m.height, size, 1);
  const mask = Uint8Array.from(grey, (v) => (v >= 128 ? 1 : 0));
  return { index, name: horseName(index), image, mask };
}

/** The file numbers of the `horseNNN.jpg` images in `dir`, in order (none when it cannot be read). */
function horsesIn(dir: string): number[] {
  try {
    const numbers = readdirSync(dir).map((f) => /^horse(\d{3})\.jpg$/.exec(f)?.[1]);
    return numbers
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/**
 * Load the horses under `dataDir` at `size`×`size`, in file-number order. The full data set must
 * hold all 328; `complete: false` takes the horses that are there (the embedded sample holds 13).
 */
export function loadHorses(dataDir: string, size: number, opts: { complete: boolean } = { complete: true }): Horse[] {
  const root = join(dataDir, HORSE_ROOT);
  if (!existsSync(root)) {
    throw new SpsError(
      `${root}: the Weizmann horses are not prepared; run \`sps prepare weizmann-horse\` (or \`sps prepare weizmann-horse --from DIR\` offline)`,
    );
  }
  const indices = opts.complete ? Array.from({ length: HORSE_COUNT }, (_, k) => k + 1) : horsesIn(join(root, 'rgb'));
  if (indices.length === 0)
    throw new SpsError(`${join(root, 'rgb')}: no horseNNN.jpg images found; re-import the data set with \`sps prepare weizmann-horse --from DIR\``);
  const horses: Horse[] = [];
  for (const i of indices) {
    const files = { rgb: join(root, 'rgb', `${horseName(i)}.jpg`), mask: join(root, 'figure_ground', `${horseName(i)}.jpg`) };
    const read = (f: string): Uint8Array => {
      try {
        return readFileSync(f);
      } catch (e) {
        throw new SpsError(
          `${f}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); re-import the data set with \`sps prepare weizmann-horse --from DIR\``,
        );
      }
    };
    horses.push(horseFromJpegs(i, read(files.rgb), read(files.mask), size, files));
  }
  return horses;
}
