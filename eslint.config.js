// ESLint: typescript-eslint's recommended rules on every TypeScript file, and for src/ the layer
// table and the import-cycle rule of scripts/eslint-sps.js. `npm run lint` runs it with Prettier.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import sps from './scripts/eslint-sps.js';

/**
 * Which folders of src/ each folder may import (docs/architecture.md "Layers"): data flows
 * config → data → model → train → results, and every layer shares src/core (the task contract, the
 * modes, the constants, the schema, the run records). A folder not listed here is an error until it is.
 */
export const LAYERS = {
  util: [],
  crf: ['util'],
  data: ['util'],
  core: ['util', 'crf', 'data'],
  backend: ['util', 'crf', 'core'],
  models: ['util', 'crf', 'backend', 'core'],
  config: ['util', 'crf', 'core', 'data'],
  results: ['util', 'crf', 'core', 'data', 'config'],
  // Built-in tasks written as a user's plugin would be: no folder of src/, only the package's public
  // entries (src/task.ts = `sps/task`, src/task-train.ts = `sps/task/train`; test/pos-task.test.ts).
  tasks: [],
  train: ['util', 'crf', 'core', 'data', 'backend', 'models', 'config', 'results', 'tasks'],
  cli: ['util', 'crf', 'core', 'data', 'backend', 'models', 'config', 'results', 'train'],
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'results/', 'datasets/', 'samples/', 'reference/', 'native/', 'docs/', 'bench/results/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      // `_name` marks a binding left unused on purpose (a destructured key dropped from a copy).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { sps },
    rules: { 'sps/layers': ['error', LAYERS], 'sps/no-cycle': 'error' },
  },
);
