// A task written against the installed package: `npm pack` sps, install the tarball into an empty
// project, and train the tagger plugin (test/fixtures/tagger-task.ts, which imports only `sps/task`
// and `sps/task/train`) through that project's own `sps run`. Offline: sps's dependencies are the
// ones this checkout installed, linked into the project before npm installs the tarball, so npm
// needs nothing from the network.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, tempDir } from './helpers.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

/** The environment without the npm_* variables of an enclosing `npm test`, which would steer the inner npm. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_'))), ...extra };
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('a plugin task against the packed package', () => {
  it('installs the tarball into an empty project and trains the plugin through its sps run', () => {
    const dir = tempDir('sps-pack-');
    const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT)) as { filename: string }[];
    const tarball = join(dir, packed[0].filename);

    const project = join(dir, 'project');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-tasks', private: true, type: 'module' }));
    // sps's own dependencies, as this checkout installed them (an optional one may be absent).
    for (const dep of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies ?? {})]) {
      const from = join(ROOT, 'node_modules', dep);
      if (!existsSync(from)) continue;
      mkdirSync(join(project, 'node_modules', dep, '..'), { recursive: true });
      symlinkSync(realpathSync(from), join(project, 'node_modules', dep));
    }
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], project);
    const installed = join(project, 'node_modules', 'sps');
    assert.ok(
      existsSync(join(installed, 'dist', 'task.js')) && !existsSync(join(installed, 'src', 'task.ts')),
      'the compiled package is installed, without its TypeScript sources',
    );

    // The plugin lives in the project, so `sps/task` can only resolve to the installed package.
    copyFileSync(join(ROOT, 'test/fixtures/tagger-task.ts'), join(project, 'tagger-task.ts'));
    writeFileSync(
      join(project, 'tagger.yaml'),
      'name: tagger\ntask: tagger\nobjectives: [log-likelihood]\nmodes: [joint]\nseeds: 1\ntrain: {epochs: 8, batch_size: 8, lr: 0.1}\nbackend: cpu\n',
    );
    const env = cleanEnv({
      SPS_PLUGINS: join(project, 'tagger-task.ts'),
      SPS_DATA_DIR: join(dir, 'data'),
      // The plugin is TypeScript; tsx (a dev dependency of this checkout, not of the project) loads it.
      NODE_OPTIONS: `--import ${import.meta.resolve('tsx')}`,
      SPS_BACKEND: '',
    });
    const out = join(project, 'out');
    run(
      join(project, 'node_modules', '.bin', 'sps'),
      ['run', 'tagger.yaml', '--out', out, '--data-from', join(ROOT, 'test/fixtures'), '--no-table'],
      project,
      env,
    );
    const runs = readdirSync(out).filter((f) => !f.startsWith('.') && f !== 'sweep.json');
    assert.equal(runs.length, 1);
    const record = JSON.parse(readFileSync(join(out, runs[0], 'run.json'), 'utf8')) as { status: string; command: string };
    assert.equal(record.status, 'done');
    const final = JSON.parse(readFileSync(join(out, runs[0], 'final.json'), 'utf8')) as { metrics: { accuracy: number } };
    // As in test/plugin-task.test.ts: only the CRF's pairwise tells the noun/verb words apart (82% without).
    assert.ok(final.metrics.accuracy > 90, `test accuracy ${final.metrics.accuracy}`);
  });
});
