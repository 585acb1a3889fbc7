/**
 * One-off repair of run folders written before the trainer reported the α a mode used: their
 * final.json says `"alpha": 1` for offline and offline-reg runs whatever `scaling.alpha` was.
 *
 *   node --import tsx scripts/fix-final-alpha.ts [--check] DIR...
 *
 * For every final.json below each DIR whose run's config.json has mode offline or offline-reg, the
 * top-level `alpha` is set to the config's `scaling.alpha`. Only that line's number changes: every
 * metric, the key order and the formatting stay byte-identical. Online runs keep theirs (it is the
 * trained α, not a config value); stage and joint scale nothing. `--check` lists, writes nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { writeFileAtomic } from '../src/util/fsx.js';

/** final.json is written by JSON.stringify(…, null, 2): a top-level key has exactly two spaces before it. */
const TOP_LEVEL_ALPHA = /^ {2}"alpha": ([^,\n]+)(,?)$/gm;

function finalFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue; // .replaced/ keeps old runs as they were
    if (e.isDirectory()) out.push(...finalFiles(join(dir, e.name)));
    else if (e.name === 'final.json') out.push(join(dir, e.name));
  }
  return out.sort();
}

/** The corrected text of `finalPath`, or undefined when it is right already. */
function corrected(finalPath: string, configPath: string): string | undefined {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { mode?: string; scaling?: { alpha?: unknown } };
  if (config.mode !== 'offline' && config.mode !== 'offline-reg') return undefined;
  const alpha = config.scaling?.alpha;
  if (typeof alpha !== 'number') throw new Error(`${configPath}: mode ${config.mode} but no numeric scaling.alpha`);
  const text = readFileSync(finalPath, 'utf8');
  const before = JSON.parse(text) as Record<string, unknown>;
  if (before.alpha === alpha) return undefined;
  const hits = [...text.matchAll(TOP_LEVEL_ALPHA)];
  if (hits.length !== 1) throw new Error(`${finalPath}: no line '  "alpha": …' at the top level, or more than one; fix it by hand`);
  const fixed = text.replace(TOP_LEVEL_ALPHA, (_m, _v, comma: string) => `  "alpha": ${JSON.stringify(alpha)}${comma}`);
  // The edit must change that one field and nothing else.
  if (!isDeepStrictEqual(JSON.parse(fixed), { ...before, alpha })) throw new Error(`${finalPath}: the rewrite would change more than alpha; fix it by hand`);
  return fixed;
}

const args = process.argv.slice(2);
const check = args.includes('--check');
const dirs = args.filter((a) => a !== '--check');
if (dirs.length === 0) {
  process.stderr.write('usage: node --import tsx scripts/fix-final-alpha.ts [--check] DIR...\n');
  process.exit(2);
}
let total = 0;
let wrong = 0;
try {
  for (const file of dirs.flatMap(finalFiles)) {
    total++;
    const fixed = corrected(file, join(file, '..', 'config.json'));
    if (fixed === undefined) continue;
    wrong++;
    process.stdout.write(`${check ? 'wrong' : 'fixed'}: ${file}\n`);
    if (!check) writeFileAtomic(file, fixed);
  }
} catch (e) {
  process.stderr.write(`fix-final-alpha: ${(e as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`${wrong} of ${total} final.json files ${check ? 'need the offline α' : 'corrected'}\n`);
