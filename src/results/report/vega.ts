import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Vega-Lite spec → SVG text, rendered headless in Node by vega's View (renderer 'none', so no
 * browser and no canvas package: text widths are estimated by vega).
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // No ARIA descriptions per mark: they double the size of the committed SVGs; the report's
  // figure captions describe each figure instead.
  const compiled = compile({ ...spec, config: { ...spec.config, aria: false } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return compactSvg(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Geometry to 0.1 px: vega writes coordinates with full float precision, which makes the committed
 * report several times larger without changing a visible pixel. Only geometry attributes are touched.
 */
export function compactSvg(svg: string): string {
  return svg.replace(/ (d|transform|points|x|y|x1|x2|y1|y2|width|height)="([^"]*)"/g, (_m, attr: string, value: string) => ` ${attr}="${value.replace(/(\d\.\d)\d+/g, '$1')}"`);
}

export type { TopLevelSpec };
