// The layer table and the import-cycle rule of scripts/eslint-sps.js, on a small tree of their own:
// each breaks the rule one way (a type import across layers, a cycle through type imports) beside
// what the rules must let pass (a task's definition loading its training code with import()).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { tempDir } from './helpers.js';

// Plain JavaScript modules (ESLint loads them untranspiled): imported by path so tsc does not look for their types.
const modules = { config: '../eslint.config.js', plugin: '../scripts/eslint-sps.js' };
const { LAYERS } = (await import(modules.config)) as { LAYERS: Record<string, string[]> };
const sps = ((await import(modules.plugin)) as { default: ESLint.Plugin }).default;

function tree(files: Record<string, string>): string {
  const root = tempDir('sps-lint-');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

async function lint(root: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { sps },
        rules: { 'sps/layers': ['error', LAYERS], 'sps/no-cycle': 'error' },
      },
    ],
  });
  const results = await eslint.lintFiles(['src/**/*.ts']);
  return results.flatMap((r) => r.messages.map((m) => `${r.filePath.slice(root.length + 1)}:${m.line} ${m.ruleId}: ${m.message}`)).sort();
}

describe('lint: layers and import cycles (scripts/eslint-sps.js)', () => {
  it('flags a type import against the layer order and names what the layer may use', async () => {
    const root = tree({
      'src/core/task.ts': 'export interface Task { name: string }\n',
      'src/train/trainer.ts': "import type { Task } from '../core/task.js';\nexport type Trainer = (t: Task) => void;\n",
      'src/config/load.ts': "import type { Trainer } from '../train/trainer.js';\nexport const t: Trainer | undefined = undefined;\n",
    });
    const found = await lint(root);
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(
      found[0],
      /^src\/config\/load\.ts:1 sps\/layers: src\/config\/ may not import src\/train\/ \('\.\.\/train\/trainer\.js'\): config may use util, crf, core, data/,
    );
  });

  it('flags a folder the table does not list', async () => {
    const root = tree({ 'src/core/a.ts': 'export const a = 1;\n', 'src/extra/b.ts': "import { a } from '../core/a.js';\nexport const b = a;\n" });
    assert.deepEqual(await lint(root), ['src/extra/b.ts:1 sps/layers: src/extra/ has no entry in the layer table (eslint.config.js): add one']);
  });

  it('flags a cycle through type imports, and lets a dynamic import() close a loop', async () => {
    const root = tree({
      'src/core/modes.ts': "import type { Schema } from './schema.js';\nexport type Mode = { schema: Schema };\n",
      'src/core/schema.ts': "import type { Mode } from './modes.js';\nexport type Schema = { modes: Mode[] };\n",
      'src/train/tasks/toy-def.ts': "export type ToyData = { n: number };\nexport const run = async () => (await import('./toy.js')).run();\n",
      'src/train/tasks/toy.ts': "import type { ToyData } from './toy-def.js';\nexport const run = (d?: ToyData) => d;\n",
    });
    const found = await lint(root);
    assert.deepEqual(
      found.map((l) => l.replace(/ through .*/, '')),
      [
        "src/core/modes.ts:1 sps/no-cycle: './schema.js' closes an import cycle (type imports count)",
        "src/core/schema.ts:1 sps/no-cycle: './modes.js' closes an import cycle (type imports count)",
      ],
    );
    assert.match(found[0], /through core\/modes\.ts, core\/schema\.ts$/);
  });
});
