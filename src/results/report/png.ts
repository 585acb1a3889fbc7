import { existsSync, writeFileSync } from 'node:fs';
import { SpsError } from '../../util/errors.js';

/**
 * SVG figures → PNG, drawn by headless Chromium (Debian's package, driven by playwright-core; no
 * browser download): vega renders to SVG in Node without a canvas, and a browser is what draws SVG
 * text and lines as people see them. Loaded only when a PNG is asked for.
 */
export const CHROMIUM = (): string => process.env.SPS_CHROMIUM || '/usr/bin/chromium';

/** Twice the SVG's pixels, so that the PNG stays sharp on a slide or a high-density screen. */
const SCALE = 2;

/** Write each `svg` as a PNG at `path`; returns the paths written. */
export async function writePngs(figures: readonly { svg: string; path: string }[]): Promise<string[]> {
  if (figures.length === 0) return [];
  const browser = CHROMIUM();
  if (!existsSync(browser)) {
    throw new SpsError(`PNG figures are drawn by Chromium, and ${browser} does not exist: install it (Debian/Ubuntu: apt-get install chromium) or point SPS_CHROMIUM at a Chromium or Chrome binary; the SVG figures need no browser (leave out --png, or use --format svg)`);
  }
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new SpsError('PNG figures need the playwright-core package (npm ci installs it); the SVG figures need nothing (leave out --png, or use --format svg)');
  }
  const b = await chromium.launch({ executablePath: browser, args: ['--no-sandbox'] });
  try {
    const page = await b.newPage({ deviceScaleFactor: SCALE });
    const written: string[] = [];
    for (const f of figures) {
      await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${f.svg}</body></html>`);
      const png = await page.locator('svg').first().screenshot({ type: 'png', omitBackground: false });
      writeFileSync(f.path, png);
      written.push(f.path);
    }
    return written;
  } finally {
    await b.close();
  }
}
