/**
 * sps's own lint rules (eslint.config.js turns them on for src/):
 *
 *   sps/layers    a module of src/<folder> imports only the folders its layer may use (the
 *                 table in eslint.config.js, docs/architecture.md "Layers"); type imports, `export
 *                 ... from`, `import('x').T` types and dynamic `import()` count like any import.
 *   sps/no-cycle  no module of src/ is on an import cycle. Unlike eslint-plugin-import-x's
 *                 no-cycle, type-only imports count: a type cycle still ties the modules' layers
 *                 together. A dynamic `import()` does not: it is how a task's light definition
 *                 loads its training code when a cell runs, and that code may name the
 *                 definition's types (tasks/<task>-def.ts and tasks/<task>.ts).
 *
 * Both read the import specifiers with TypeScript's parser, so they see what tsc sees.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The relative specifiers a module imports: `dynamic` for an `import()` call. */
function importsOf(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ spec: node.moduleSpecifier.text, dynamic: false, pos: node.moduleSpecifier.getStart(source) });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ spec: node.argument.literal.text, dynamic: false, pos: node.argument.literal.getStart(source) });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push({ spec: node.arguments[0].text, dynamic: true, pos: node.arguments[0].getStart(source) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((i) => i.spec.startsWith('.'));
}

/** The source file a relative specifier names (NodeNext: `./x.js` is `./x.ts`). */
function resolveSpec(from, spec) {
  return resolve(dirname(from), spec).replace(/\.js$/, '.ts');
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Strongly connected components of src/'s static import graph (Tarjan), by file: the component's files when it is a cycle. */
const cycleCache = new Map();
function cyclesUnder(root) {
  if (cycleCache.has(root)) return cycleCache.get(root);
  const edges = new Map(
    walk(root).map((f) => [
      f,
      importsOf(f, readFileSync(f, 'utf8'))
        .filter((i) => !i.dynamic)
        .map((i) => resolveSpec(f, i.spec)),
    ]),
  );
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const inCycle = new Map();
  let next = 0;
  const strong = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const selfLoop = component.length === 1 && (edges.get(v) ?? []).includes(v);
      if (component.length > 1 || selfLoop) for (const f of component) inCycle.set(f, new Set(component));
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) strong(v);
  cycleCache.set(root, inCycle);
  return inCycle;
}

/** `src/<folder>/...` → folder; a module directly in src/ (index.ts) → '.'; outside src/ → undefined. */
function layerOf(root, file) {
  const rel = relative(root, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  return parts.length === 1 ? '.' : parts[0];
}

const srcRoot = (context) => resolve(context.cwd, 'src');

const layers = {
  meta: {
    type: 'problem',
    docs: { description: 'a module of src/<folder> imports only the folders its layer may use' },
    schema: [{ type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } }],
  },
  create(context) {
    const allowed = context.options[0] ?? {};
    const root = srcRoot(context);
    const file = context.filename;
    const mine = layerOf(root, file);
    // src/index.ts, the package's entry point, re-exports from every layer.
    if (mine === undefined || mine === '.') return {};
    return {
      'Program:exit'() {
        const text = context.sourceCode.text;
        for (const { spec, pos } of importsOf(file, text)) {
          const target = layerOf(root, resolveSpec(file, spec));
          if (target === undefined || target === mine || target === '.') continue;
          const may = allowed[mine];
          if (may === undefined) {
            context.report({
              loc: context.sourceCode.getLocFromIndex(pos),
              message: `src/${mine}/ has no entry in the layer table (eslint.config.js): add one`,
            });
          } else if (!may.includes(target)) {
            context.report({
              loc: context.sourceCode.getLocFromIndex(pos),
              message: `src/${mine}/ may not import src/${target}/ ('${spec}'): ${mine} may use ${may.length ? may.join(', ') : 'no other folder'} (docs/architecture.md "Layers")`,
            });
          }
        }
      },
    };
  },
};

const noCycle = {
  meta: {
    type: 'problem',
    docs: { description: 'no module of src/ is on an import cycle, type imports included' },
    schema: [],
  },
  create(context) {
    const root = srcRoot(context);
    const file = context.filename;
    if (layerOf(root, file) === undefined) return {};
    return {
      'Program:exit'() {
        const component = cyclesUnder(root).get(file);
        if (!component) return;
        for (const { spec, dynamic, pos } of importsOf(file, context.sourceCode.text)) {
          if (dynamic || !component.has(resolveSpec(file, spec))) continue;
          const members = [...component].map((f) => relative(root, f)).sort();
          context.report({
            loc: context.sourceCode.getLocFromIndex(pos),
            message: `'${spec}' closes an import cycle (type imports count) through ${members.join(', ')}`,
          });
        }
      },
    };
  },
};

export default { meta: { name: 'sps' }, rules: { layers, 'no-cycle': noCycle } };
