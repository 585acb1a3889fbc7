/**
 * Where the source names a training mode or a task: string literals and property names equal to a
 * mode name (MODE_SPECS) or a built-in task name (TASKS), file by file. docs/architecture.md's "what a
 * change touches" table is counted from this; test/name-uses.test.ts keeps the two in step.
 *
 *   node --import tsx scripts/name-uses.ts     prints each file with the names it uses
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { TASKS } from '../src/core/constants.js';
import { MODE_NAMES } from '../src/core/modes.js';
import { packageRoot } from '../src/util/paths.js';

export interface NameUses {
  /** File (relative to the repository) → the mode names it uses, sorted. */
  modes: Map<string, string[]>;
  /** File → the task names it uses, sorted. */
  tasks: Map<string, string[]>;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The names `names` has among the string literals and property names of one module (import specifiers excluded). */
function namesIn(file: string, names: ReadonlySet<string>): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return;
    const text =
      ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)
        ? node.text
        : ts.isIdentifier(node) && (ts.isPropertyAccessExpression(node.parent) || ts.isPropertyAssignment(node.parent)) && node.parent.name === node
          ? node.text
          : undefined;
    if (text !== undefined && names.has(text)) found.add(text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...found].sort();
}

export function nameUses(root = packageRoot()): NameUses {
  const modes = new Set<string>(MODE_NAMES);
  const tasks = new Set<string>(TASKS);
  const uses: NameUses = { modes: new Map(), tasks: new Map() };
  for (const file of walk(join(root, 'src'))) {
    const rel = relative(root, file);
    const m = namesIn(file, modes);
    const t = namesIn(file, tasks);
    if (m.length > 0) uses.modes.set(rel, m);
    if (t.length > 0) uses.tasks.set(rel, t);
  }
  return uses;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const uses = nameUses();
  for (const [what, map] of [
    ['mode', uses.modes],
    ['task', uses.tasks],
  ] as const) {
    console.log(`${map.size} files name a ${what}:`);
    for (const [file, names] of [...map].sort()) console.log(`  ${file}: ${names.join(', ')}`);
  }
}
