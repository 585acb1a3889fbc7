/**
 * Issue 33: hostile input (configs, run folders, plans) stays inert, and kills and races leave
 * consistent files. Each test here failed before its fix; the security ones use the payloads.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { configError, ROOT, sps, spsSpawn, tempDir, TINY_TOY } from './helpers.js';

const KILL = join(ROOT, 'test/fixtures/fs-kill.ts');
const FAULT = join(ROOT, 'test/fixtures/fs-fault.ts');
const TAGGER = join(ROOT, 'test/fixtures/tagger-task.ts');
/** The environment of an sps process with a kill or pause at one file operation (test/fixtures/fs-kill.ts). */
const killAt = (rule: string, extra: Record<string, string> = {}): Record<string, string> => ({
  NODE_OPTIONS: `--import tsx --import ${KILL}`,
  SPS_FS_KILL: rule,
  ...extra,
});
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Every file below `dir` (hidden ones too) with its bytes, to compare a folder before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out[`${rel}${e.name}`] = sha256(join(d, e.name));
    }
  };
  walk(dir, '');
  return out;
}

/**
 * Stand-ins for sbatch and squeue in a folder to put first on PATH: sbatch answers job id 1000, 1001, …
 * (and submits nothing); squeue prints the lines of $FAKE_SQUEUE (`ID|STATE`). Returns the env.
 */
function fakeSlurm(dir: string, queue = ''): Record<string, string> {
  const bin = join(dir, 'fake-slurm');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'sbatch'),
    `#!/bin/bash
n=$(cat "${bin}/next" 2>/dev/null || echo 1000)
echo $((n+1)) > "${bin}/next"
echo "$@" >> "${bin}/sbatch.log"
echo $n
`,
  );
  writeFileSync(
    join(bin, 'squeue'),
    `#!/bin/bash
cat "${bin}/queue" 2>/dev/null
`,
  );
  writeFileSync(join(bin, 'sacct'), '#!/bin/bash\nexit 1\n');
  writeFileSync(join(bin, 'queue'), queue);
  for (const f of ['sbatch', 'squeue', 'sacct']) chmodSync(join(bin, f), 0o755);
  return { PATH: `${bin}:${process.env.PATH}` };
}

const TOY = join(ROOT, 'test/fixtures/toy.yaml');
const readJson = <T = Record<string, unknown>>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const editJson = (path: string, edit: (v: Record<string, unknown>) => void): void => {
  const v = readJson(path);
  edit(v);
  writeFileSync(path, JSON.stringify(v, null, 2));
};

/** The lines of an sbatch script that bash runs (not #SBATCH directives, comments or blanks). */
const shellLines = (script: string): string[] => script.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));

describe('issue 33, item 1: the sbatch script is built from validated, quoted values', () => {
  it('a newline in launcher.partition or in an sbatch_args item is refused, naming the key', () => {
    const dir = tempDir();
    for (const [key, value] of [
      ['partition', '"debug\\ntouch /tmp/x"'],
      ['sbatch_args', '["--account=abc\\ntouch /tmp/x"]'],
      ['setup', '"module load nodejs\\ntouch /tmp/x"'],
    ]) {
      const config = join(dir, `${key}.yaml`);
      writeFileSync(config, readFileSync(TOY, 'utf8') + `launcher:\n  type: slurm\n  ${key}: ${value}\n`);
      const r = sps(['run', config, '--out', join(dir, 'out'), '--dry-run']);
      assert.equal(r.code, 1, r.stdout);
      assert.ok(r.stderr.includes(`${config}: launcher.${key}`), r.stderr);
      assert.ok(r.stderr.includes('\\ntouch /tmp/x'), `the value is shown with its newline escaped: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stdout, /^touch/m);
    }
  });

  it('the same values given as options are refused, naming the option', () => {
    const out = join(tempDir(), 'out');
    for (const [opt, value] of [
      ['--partition', 'debug\ntouch /tmp/x'],
      ['--sbatch-arg', '--account=abc\ntouch /tmp/x'],
      ['--setup', 'true\ntouch /tmp/x'],
      ['--partition', 'debug;touch /tmp/x'],
    ]) {
      const r = sps(['run', TOY, '--launcher', 'slurm', '--out', out, '--dry-run', `${opt}=${value}`]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, new RegExp(`^sps: ${opt}: `, 'm'), r.stderr);
      assert.doesNotMatch(r.stdout, /^touch/m);
    }
  });

  it('an --out path with a space and shell characters is quoted in the script; sbatch_args values are quoted for sbatch', () => {
    const out = join(tempDir(), 'my results $(touch x) `y`');
    const r = sps(['run', TOY, '--launcher', 'slurm', '--out', out, '--dry-run', '--sbatch-arg=--comment=two words; touch /tmp/x']);
    assert.equal(r.code, 0, r.stderr);
    const logs = join(out, 'slurm', 'toy-test', 'logs', '%A_%a.out');
    assert.ok(r.stdout.split('\n').includes(`#SBATCH --output="${logs}"`), r.stdout);
    assert.ok(r.stdout.split('\n').includes('#SBATCH --comment="two words; touch /tmp/x"'), r.stdout);
    const script = r.stdout.slice(r.stdout.indexOf('#!/bin/bash'), r.stdout.indexOf('\nsbatch --array'));
    // Every shell line is one of the script's own, with the paths single-quoted.
    const shell = shellLines(script);
    assert.equal(shell.length, 5, shell.join('\n'));
    assert.equal(shell[0], `cd ${ROOT} || exit 1`);
    assert.ok(shell[1].includes(`'${join(out, 'slurm', 'toy-test', 'plan.json')}'`), shell[1]);
  });
});

/** A copy of committed runs of one (task, objective, seed 0) in `dest`, every mode, with `edit` applied to each run.json. */
function copyRuns(dest: string, task: string, objective: string, edit: (run: Record<string, unknown>) => void): void {
  const dir = join(ROOT, 'results', task);
  for (const d of readdirSync(dir)) {
    if (!new RegExp(`^${task}-${objective}-(stage|joint|online|offline|offline-reg)-seed0-`).test(d)) continue;
    cpSync(join(dir, d), join(dest, task, d), { recursive: true });
    editJson(join(dest, task, d, 'run.json'), edit);
  }
}

/** The attribute names of every HTML tag named `tag` in `html` (quoted attributes, as the report writes them). */
function attributeNames(html: string, tag: string): string[][] {
  return [...html.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'g'))].map((m) => {
    const rest = m[1].replace(/\s*\/$/, '');
    const names = [...rest.matchAll(/\s*([A-Za-z-]+)="[^"]*"/g)].map((a) => a[1]);
    assert.equal(rest.replace(/\s*([A-Za-z-]+)="[^"]*"/g, '').trim(), '', `unparsed attribute text in <${tag}${m[1]}>`);
    return names;
  });
}

describe('issue 33, items 2 and 3: strings from run.json are escaped, and the report writes inside --out only', () => {
  it('the payloads are inert: no live handler in index.html, no raw HTML in report.md, no file outside --out', () => {
    const tmp = tempDir();
    const results = join(tmp, 'results');
    const xss = 'll" onerror="alert(document.domain)';
    copyRuns(results, 'ocr', 'cross-entropy', (r) => {
      r.objective = xss;
      r.experiment = '<img src=x onerror=alert(1)>';
      r.warnings = ['<script>alert(2)</script>'];
    });
    copyRuns(results, 'segmentation', 'cross-entropy', (r) => {
      r.objective = '/../../../../tmp/x';
      if (r.mode === 'online') r.mode = 'online" onerror="alert(3)';
    });
    // The traversal payload resolves two levels above --out, then into tmp/: that folder exists here.
    const out = join(tmp, 'a', 'report');
    mkdirSync(join(tmp, 'tmp'));
    const r = sps(['report', results, '--out', out, '--datasets', join(tmp, 'no-datasets')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(tmp, 'tmp')), [], 'nothing written outside --out');
    assert.deepEqual(readdirSync(tmp).sort(), ['a', 'results', 'tmp']);
    assert.deepEqual(readdirSync(join(tmp, 'a')), ['report']);

    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const imgs = attributeNames(html, 'img');
    assert.ok(imgs.length > 0, 'the example panels have images');
    for (const names of imgs)
      assert.deepEqual(
        names.filter((n) => !['src', 'alt', 'class'].includes(n)),
        [],
      );
    for (const tag of ['tr', 'figure', 'h2', 'h3', 'td'])
      for (const names of attributeNames(html, tag)) assert.ok(!names.some((n) => n.startsWith('on')), `${tag}: ${names}`);
    assert.doesNotMatch(html, /<script>alert/);
    // Every image the report links is a file of the report folder.
    for (const m of html.matchAll(/<img src="([^"]*)"/g)) assert.ok(existsSync(join(out, m[1].replace(/&amp;/g, '&'))), m[1]);
    for (const f of readdirSync(join(out, 'images'))) assert.match(f, /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/);

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.doesNotMatch(md, /(?<!\\)<(img|script)/, 'every < is escaped');
    assert.ok(md.includes('onerror'), 'the strings are shown, escaped');
  });
});

/** A toy sweep submitted to the fake sbatch: its plan and the environment that submitted it. */
function submittedToy(dir: string, extra: string[] = []): { out: string; planPath: string; env: Record<string, string> } {
  const out = join(dir, 'toy');
  const env = fakeSlurm(dir);
  const r = sps(['run', TOY, ...TINY_TOY, ...extra, '--launcher', 'slurm', '--out', out], { env });
  assert.equal(r.code, 0, r.stderr);
  return { out, planPath: join(out, 'slurm', 'toy-test', 'plan.json'), env };
}

describe('issue 33, item 5: run-cell checks its cell against the schemas and its run id', () => {
  it('an edited cell, a foreign runDir or a hex --index is refused before anything runs; the plan as written runs', () => {
    const { out, planPath, env } = submittedToy(tempDir());
    const original = readFileSync(planPath, 'utf8');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the edits reach anywhere into a plan read from JSON
    const edits: [string, (job: Record<string, any>) => void, RegExp][] = [
      ['epochs 1 → 3, id kept', (j) => (j.cell.train.epochs = 3), /jobs\[0\]: the cell's settings have run id [0-9a-f]{12}, not its id [0-9a-f]{12}/],
      ['epochs: -5', (j) => (j.cell.train.epochs = -5), /jobs\[0\]: cell\.train\.epochs: /],
      ['lr: "abc"', (j) => (j.cell.train.lr = 'abc'), /jobs\[0\]: cell\.train\.lr: /],
      ['an unknown objective', (j) => (j.cell.objective = 'nope'), /jobs\[0\]: cell\.objective: /],
      ['runDir elsewhere', (j) => (j.runDir = join(out, '..', 'elsewhere', 'x')), /jobs\[0\]\.runDir: .* is not this cell's run folder/],
    ];
    for (const [what, edit, message] of edits) {
      const plan = JSON.parse(original);
      edit(plan.jobs[0]);
      writeFileSync(planPath, JSON.stringify(plan));
      const r = sps(['run-cell', planPath, '--index', '0'], { env });
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.deepEqual(
        readdirSync(out).filter((f) => f.startsWith('toy-')),
        [],
        `${what}: nothing ran`,
      );
    }
    assert.equal(existsSync(join(out, '..', 'elsewhere')), false);
    writeFileSync(planPath, original);
    const hex = sps(['run-cell', planPath, '--index', '0x1'], { env });
    assert.equal(hex.code, 1);
    assert.match(hex.stderr, /--index.*expected a whole number/);
    const ok = sps(['run-cell', planPath, '--index', '0'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(readdirSync(out).filter((f) => f.startsWith('toy-')).length, 1);
  });
});

/** A tagger experiment of one cell, and a run of it that prepares toy-tags into `data`. */
function taggerRun(dir: string) {
  const config = join(dir, 'tagger.yaml');
  writeFileSync(
    config,
    [
      'name: tagger-test',
      'task: tagger',
      'objectives: [log-likelihood]',
      'modes: [joint]',
      'seeds: 1',
      'train: {epochs: 1, batch_size: 8, lr: 0.1}',
      'backend: cpu',
      '',
    ].join('\n'),
  );
  const data = join(dir, 'data');
  const env = { SPS_PLUGINS: TAGGER, SPS_DATA_DIR: data };
  const run = (args: string[], more: Record<string, string> = {}) =>
    sps(['run', config, '--out', join(dir, 'out'), '--no-table', ...args], { env: { ...env, ...more } });
  return { config, data, env, run, tags: join(data, 'toy-tags', 'tags.txt') };
}

describe('issue 33, item 5: checkCell accepts what sps writes', () => {
  it('every cell of every committed config, read back from JSON, passes with its own run id', async () => {
    const [{ loadExperiment }, { expandSweep }, { checkCell }, { allTasks }] = await Promise.all([
      import('../src/config/load.js'),
      import('../src/config/cells.js'),
      import('../src/config/check-cell.js'),
      import('../src/train/tasks/index.js'),
    ]);
    const tasks = await allTasks();
    const files = ['configs', 'configs/studies'].flatMap((d) =>
      readdirSync(join(ROOT, d))
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join(ROOT, d, f)),
    );
    let cells = 0;
    for (const file of files) {
      for (const b of (await loadExperiment(file, tasks)).blocks) {
        for (const c of expandSweep(b.variants ?? [{ experiment: b.experiment }])) {
          checkCell(JSON.parse(JSON.stringify(c.config)), c.id, file, tasks);
          cells++;
        }
      }
    }
    assert.ok(cells > 100, `${cells} cells checked`);
  });
});

describe('issue 33, item 4: data sets are verified by content', () => {
  it('a file changed in place with its old size and time is caught; run.json records the hash of the bytes read', () => {
    const t = taggerRun(tempDir());
    const first = t.run(['--data-from', join(ROOT, 'test/fixtures')]);
    assert.equal(first.code, 0, first.stderr);
    const out = join(t.data, '..', 'out');
    const runDir = join(
      out,
      readdirSync(out).find((f) => f.startsWith('tagger-'))!,
    );
    const recorded = readJson<{ inputs: { datasets: Record<string, Record<string, string>> } }>(join(runDir, 'run.json')).inputs.datasets;
    assert.deepEqual(recorded, { 'toy-tags': { 'tags.txt': sha256(t.tags) } });

    // Same size, the old modification time to the nanosecond: what touch -r, cp -p or bit rot leave.
    const before = statSync(t.tags, { bigint: true });
    const ref = join(t.data, 'ref');
    assert.equal(spawnSync('touch', ['-r', t.tags, ref]).status, 0);
    const text = readFileSync(t.tags, 'utf8');
    writeFileSync(t.tags, text.replace('fish/N', 'fish/V'));
    assert.equal(spawnSync('touch', ['-r', ref, t.tags]).status, 0);
    const after = statSync(t.tags, { bigint: true });
    assert.equal(after.size, before.size);
    assert.equal(after.mtimeNs, before.mtimeNs);
    const again = t.run(['--force']);
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.match(again.stderr, /dataset "toy-tags" at .* does not match its checksums: MISMATCH tags\.txt/);
    assert.equal(readJson<{ status: string }>(join(runDir, 'run.json')).status, 'done', 'the finished run was not touched');
  });

  it("a file changed between the sweep's check and the cell fails the cell before it reads it", () => {
    const dir = tempDir();
    const t = taggerRun(dir);
    const out = join(dir, 'out');
    const slurm = { ...t.env, ...fakeSlurm(dir) };
    const submitted = sps(['run', t.config, '--out', out, '--launcher', 'slurm', '--data-from', join(ROOT, 'test/fixtures')], { env: slurm });
    assert.equal(submitted.code, 0, submitted.stderr);
    // A valid sentence more: the task would train on it without a word.
    const text = readFileSync(t.tags, 'utf8');
    writeFileSync(t.tags, text + text.split('\n')[0] + '\n');
    const r = sps(['run-cell', join(out, 'slurm', 'tagger-test', 'plan.json'), '--index', '0'], { env: slurm });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /dataset "toy-tags" at .* changed after sps run verified it: tags\.txt \(sha256 [0-9a-f]{64}, verified [0-9a-f]{64}\)/);
    const runDir = join(
      out,
      readdirSync(out).find((f) => f.startsWith('tagger-'))!,
    );
    const run = readJson<{ status: string; error: { message: string } }>(join(runDir, 'run.json'));
    assert.equal(run.status, 'failed');
    assert.equal(existsSync(join(runDir, 'metrics.jsonl')), false, 'no epoch was trained');
  });
});

describe('issue 33, item 7: sps report swaps in a complete folder', () => {
  it('a kill while writing, or a full disk, leaves the previous report whole; the next report cleans up', () => {
    const tmp = tempDir();
    const results = join(tmp, 'results');
    copyRuns(results, 'ocr', 'cross-entropy', () => {});
    const out = join(tmp, 'report');
    const first = sps(['report', results, '--out', out, '--datasets', join(tmp, 'none')]);
    assert.equal(first.code, 0, first.stderr);
    const old = snapshot(out);
    // More runs, so the next report differs in every file.
    copyRuns(results, 'segmentation', 'cross-entropy', () => {});
    const killed = sps(['report', results, '--out', out, '--datasets', join(tmp, 'none')], { env: killAt('kill-before|openSync|index\\.html|1') });
    assert.equal(killed.code, null, 'killed');
    assert.deepEqual(snapshot(out), old, 'the old report is as it was');
    const full = sps(['report', results, '--out', out, '--datasets', join(tmp, 'none')], {
      env: { NODE_OPTIONS: `--import tsx --import ${FAULT}`, SPS_FS_FAULT: `ENOSPC:writeSync:${tmp}` },
    });
    assert.equal(full.code, 1, full.stderr);
    assert.match(full.stderr, new RegExp(`^sps: ${tmp}/\\S+: cannot write: no space left on the device \\(ENOSPC\\)`));
    assert.doesNotMatch(full.stderr, /path not given/);
    assert.deepEqual(snapshot(out), old, 'the old report is as it was');
    const next = sps(['report', results, '--out', out, '--datasets', join(tmp, 'none')]);
    assert.equal(next.code, 0, next.stderr);
    assert.ok(readdirSync(join(out, 'figures')).some((f) => f.includes('segmentation')));
    assert.deepEqual(readdirSync(tmp).sort(), ['report', 'results'], 'no staging folder is left');
  });

  it('a folder that holds other files is not replaced', () => {
    const tmp = tempDir();
    writeFileSync(join(tmp, 'notes.txt'), 'mine');
    const r = sps(['report', join(ROOT, 'results', 'segmentation'), '--out', tmp]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^sps: --out .*: the folder is not empty and holds no earlier report \(notes\.txt\)/);
    assert.deepEqual(readdirSync(tmp), ['notes.txt']);
  });
});

describe('issue 33, item 8: sweep.json is updated under a lock', () => {
  it('a sweep that plans into the folder while another is between reading and writing sweep.json keeps both', async () => {
    const dir = tempDir();
    const mark = join(dir, 'paused');
    const script = (seed: number) =>
      `import { writeSweepFiles } from ${JSON.stringify(join(ROOT, 'src/train/plan.ts'))};\n` +
      `writeSweepFiles([{ id: 'id${seed}', folder: 'f${seed}', runDir: ${JSON.stringify(dir)} + '/f${seed}', config: { experiment: 'x', task: 'toy', objective: 'ssvm', mode: 'joint', seed: ${seed} } }], 'c.yaml');`;
    const node = (seed: number, env: Record<string, string>) =>
      spawn(process.execPath, ['--input-type=module', '-e', script(seed)], { env: { ...process.env, NODE_OPTIONS: '--import tsx', ...env }, stdio: 'inherit' });
    const exited = (p: ReturnType<typeof spawn>) => new Promise<number | null>((res) => p.on('exit', (c) => res(c)));
    // The first pauses for 3 s just as it reads sweep.json; the second starts once it has.
    const a = node(0, killAt('pause|readFileSync|/sweep\\.json$|3000', { SPS_FS_KILL_MARK: mark }));
    const aDone = exited(a);
    while (!existsSync(mark)) await sleep(20);
    const bCode = await exited(node(1, {}));
    assert.equal(bCode, 0);
    assert.equal(await aDone, 0);
    const cells = readJson<{ cells: { id: string }[] }>(join(dir, 'sweep.json'))
      .cells.map((c) => c.id)
      .sort();
    assert.deepEqual(cells, ['id0', 'id1']);
  });
});

describe('issue 33, item 9: --force sets a finished run aside with one rename', () => {
  it('a kill right after the move leaves the run whole in .replaced/, and the next run redoes only the cell', async () => {
    const out = join(tempDir(), 'toy');
    const args = ['run', TOY, ...TINY_TOY, 'seeds=[0]', '--out', out, '--no-table'];
    const first = sps(args);
    assert.equal(first.code, 0, first.stderr);
    const folder = readdirSync(out).find((f) => f.startsWith('toy-'))!;
    const files = readdirSync(join(out, folder)).sort();
    const child = spsSpawn([...args, '--force'], { env: killAt('group-after|renameSync|/toy-[^/]+(/[a-z]+\\.[a-z]+)?$|1') });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    assert.equal(code, null, 'killed');
    const replaced = readdirSync(join(out, '.replaced'));
    assert.equal(replaced.length, 1, replaced.join());
    // The lock moved with them (the kill came before its removal): hidden, and named by a dead process.
    assert.deepEqual(
      readdirSync(join(out, '.replaced', replaced[0]))
        .filter((f) => f !== '.lock')
        .sort(),
      files,
      'every file of the run moved at once',
    );
    const again = sps(args);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /damaged/);
    assert.deepEqual(readdirSync(join(out, '.replaced')), replaced, 'nothing else set aside');
    assert.equal(readJson<{ status: string }>(join(out, folder, 'run.json')).status, 'done');
  });

  it('a kill while the data check writes its cache leaves no temporary file for good', () => {
    const t = taggerRun(tempDir());
    const killed = t.run(['--data-from', join(ROOT, 'test/fixtures')], killAt('kill-after|openSync|sps-verified\\.json\\.tmp-|1'));
    assert.equal(killed.code, null, killed.stderr);
    const folder = join(t.data, 'toy-tags');
    assert.ok(
      readdirSync(folder).some((f) => f.includes('.tmp-')),
      'the kill left a temporary file',
    );
    const r = t.run([]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      readdirSync(folder).filter((f) => f.includes('.tmp-')),
      [],
    );
  });
});

describe('issue 33, item 10: Slurm resubmissions and sps status', () => {
  it('cells still queued in an earlier array are not queued again; the plan keeps every index', () => {
    const dir = tempDir();
    const { out, planPath, env } = submittedToy(dir);
    const bin = join(dir, 'fake-slurm');
    const plan0 = readJson<{ jobs: { id: string }[] }>(planPath).jobs.map((j) => j.id);
    assert.equal(plan0.length, 2);
    const args = ['run', TOY, ...TINY_TOY, '--launcher', 'slurm', '--out', out];
    writeFileSync(join(bin, 'queue'), '1000_0|PENDING\n1000_1|PENDING\n');
    const again = sps(args, { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /2 cells: 0 done, 0 running, 0 to submit, 2 still queued in Slurm job 1000: nothing to submit/);
    writeFileSync(join(bin, 'queue'), '1000_0|RUNNING\n1000_1|CANCELLED\n');
    const third = sps(args, { env });
    assert.match(third.stdout, /submitted Slurm job 1001, array 1: 2 cells: 0 done, 0 running, 1 to submit, 1 still queued in Slurm job 1000/);
    // Other seeds: the new cells are appended; the queued tasks still find their cells at their index.
    const more = sps([...args, 'seeds=[1,2]'], { env });
    assert.equal(more.code, 0, more.stderr);
    const plan = readJson<{ jobs: { id: string }[] }>(planPath).jobs.map((j) => j.id);
    assert.deepEqual(plan.slice(0, 2), plan0);
    assert.equal(plan.length, 3);
    assert.match(more.stdout, /submitted Slurm job 1002, array 1-2: 2 cells: 0 done, 0 running, 2 to submit/);
    assert.equal(readFileSync(join(bin, 'sbatch.log'), 'utf8').trim().split('\n').length, 3, 'three submissions, none of a queued cell');
  });

  it('sps status: a task that never started points to no log; a truncated plan.json is a warning, not a stop', () => {
    const dir = tempDir();
    const { out, planPath, env } = submittedToy(dir);
    writeFileSync(join(dir, 'fake-slurm', 'queue'), '1000_0|CANCELLED\n1000_1|CANCELLED\n');
    const st = sps(['status', out], { env });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /Slurm task 1000_0 ended \(CANCELLED\) without writing a result; it wrote no log \(it never started\)/);
    assert.doesNotMatch(st.stdout, /logs\/1000_0\.out/);
    writeFileSync(planPath, readFileSync(planPath, 'utf8').slice(0, 100));
    const cut = sps(['status', out], { env });
    assert.equal(cut.code, 0, cut.stderr);
    assert.match(cut.stderr, /^sps: warning: .*plan\.json: not valid JSON .*\(the Slurm tasks of job 1000 are not shown\)$/m);
    assert.match(cut.stdout, /2 cells: 0 done/);
  });
});

/** A one-block OCR experiment file in `dir` with `extra` lines appended. */
function ocrConfig(dir: string, extra: string[] = []): string {
  const file = join(dir, `ocr-${readdirSync(dir).length}.yaml`);
  writeFileSync(file, ['name: x', 'task: ocr', 'objectives: [log-likelihood]', 'modes: [joint]', 'seeds: 1', ...extra, ''].join('\n'));
  return file;
}

describe('issue 33, item 6: values that would be cut or ignored silently are refused', () => {
  it('OCR word counts beyond the folds, at load time (so --dry-run too)', async () => {
    const dir = tempDir();
    const file = ocrConfig(dir);
    assert.match(
      await configError(file, ['data.train_words=1000000000000']),
      /^command-line override 'data\.train_words=1000000000000': data\.train_words: 1000000000000 is more than the 5751 training words left in the OCR data set/,
    );
    assert.match(await configError(file, ['data.validation_words=100000']), /data\.validation_words: 100000 is not below the 6251 words of train_folds/);
    assert.match(
      await configError(file, ['data.source=sample', 'data.test_words=101']),
      /data\.test_words: 101 is more than the 100 words of test_folds \[0\] in the embedded sample/,
    );
    const dry = sps(['run', file, 'data.validation_words=100000', '--dry-run']);
    assert.equal(dry.code, 1);
  });

  it('a key set twice, a whole section replaced, an epoch count without bound, an empty --out', async () => {
    const dir = tempDir();
    const file = ocrConfig(dir);
    assert.equal(
      await configError(file, ['train.lr=0.1', 'train.lr=0.2']),
      "command-line override 'train.lr=0.2': train.lr is already set by 'train.lr=0.1'; give each key once",
    );
    assert.match(
      await configError(file, ['train={epochs: 1}']),
      /^override 'train=\{epochs: 1\}': train is a section, and a mapping would replace all of it .*; set its keys one by one, e\.g\. train\.epochs=1$/,
    );
    assert.match(await configError(file, ['train.epochs=1e12']), /train\.epochs: .*100000/);
    const empty = sps(['run', file, '--out', '', '--dry-run']);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /^sps: --out: the folder is empty/);
    const report = sps(['report', join(ROOT, 'results', 'segmentation'), '--out', '']);
    assert.match(report.stderr, /^sps: --out: the folder is empty/);
  });
});

describe('issue 33: unclear errors are one clear line', () => {
  it('YAML nested 5000 deep; an unknown top-level key lists sweep, blocks and launcher too', async () => {
    const dir = tempDir();
    const deep = ocrConfig(dir, [`data: ${'['.repeat(5000)}${']'.repeat(5000)}`]);
    const msg = await configError(deep);
    assert.match(msg, /^FILE:6:\d+: the YAML nests lists or mappings too deeply/);
    assert.doesNotMatch(msg, /call stack/);
    assert.match(await configError(ocrConfig(dir, ['foo: 1'])), /foo: unknown key \(allowed here: name, task, .*, backend, sweep, blocks, launcher\)/);
  });

  it('sps table on a file; control bytes from a bad JSON file; escape sequences from run.json in sps ls', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'afile'), 'x');
    const t = sps(['table', join(dir, 'afile')]);
    assert.match(t.stderr, /afile: a file, not a results directory/);
    const results = join(dir, 'results');
    copyRuns(results, 'segmentation', 'cross-entropy', (r) => {
      if (r.mode === 'joint') r.error = { message: 'boom \u001b]0;owned\u0007 \u001b[2J' };
      if (r.mode === 'joint') r.status = 'failed';
    });
    const stage = readdirSync(join(results, 'segmentation')).find((f) => f.includes('-stage-'))!;
    writeFileSync(join(results, 'segmentation', stage, 'final.json'), '{"primary": \u001b[31m\n"x"');
    for (const cmd of [
      ['ls', results],
      ['table', results],
    ]) {
      const r = sps(cmd);
      // eslint-disable-next-line no-control-regex -- control characters are what this looks for
      assert.doesNotMatch(r.stdout + r.stderr, /\u001b|\u0007/, `${cmd[0]} sends no escape sequence to the terminal`);
    }
    const ls = sps(['ls', results]);
    assert.match(ls.stdout, /boom \\x1b\]0;owned\\x07/);
  });

  it('a damaged run that cannot be moved: the note does not claim it was, and the failure points at no old log', () => {
    const out = join(tempDir(), 'toy');
    const args = ['run', TOY, ...TINY_TOY, 'seeds=[0]', '--out', out, '--no-table'];
    assert.equal(sps(args).code, 0);
    const folder = readdirSync(out).find((f) => f.startsWith('toy-'))!;
    writeFileSync(join(out, folder, 'final.json'), '{');
    // Root ignores permissions: the move's rename fails as on a folder the user cannot write.
    const r = sps(args, { env: { NODE_OPTIONS: `--import tsx --import ${FAULT}`, SPS_FS_FAULT: `EACCES:renameSync:${join(out, folder)}` } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /damaged run: .*final\.json: not valid JSON .*; the cell is to be redone, once its folder is moved to /);
    assert.match(r.stderr, /cannot move the damaged run to .*, so it was not moved and the cell was not redone: permission denied \(EACCES\)/);
    assert.match(r.stderr, /the cell failed before writing anything in /);
    assert.doesNotMatch(r.stderr, /see .*log\.txt/);
  });
});

describe('issue 33: more unclear errors', () => {
  it('a new --out, or a report folder, on a read-only file system says EROFS, not ENOENT', () => {
    const dir = tempDir();
    const ro = join(dir, 'ro');
    const env = { NODE_OPTIONS: `--import tsx --import ${FAULT}`, SPS_FS_FAULT: `EROFS:mkdirSync:${ro}` };
    const run = sps(['run', TOY, ...TINY_TOY, '--out', join(ro, 'new', 'out')], { env });
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`^sps: ${ro}/new/out: cannot create the directory: the file system is read-only \\(EROFS\\)`, 'm'));
    const report = sps(['report', join(ROOT, 'results', 'segmentation'), '--out', join(ro, 'rep')], { env });
    assert.equal(report.code, 1);
    assert.match(report.stderr, /the file system is read-only \(EROFS\)/);
    assert.doesNotMatch(run.stderr + report.stderr, /ENOENT/);
    assert.doesNotMatch(report.stderr, /sps run --out/, 'the advice fits the command');
  });

  it('sps select on a setting whose runs are all damaged says so, not that the metric is missing', () => {
    const out = join(tempDir(), 'out');
    const run = sps(['run', TOY, 'train.lr=0.05,0.2', ...TINY_TOY, 'seeds=[0]', '--out', out, '--no-table', '-j', '1']);
    assert.equal(run.code, 0, run.stderr);
    const damaged = readdirSync(out).find((f) => f.includes('lr=0.2'))!;
    writeFileSync(join(out, damaged, 'final.json'), '{');
    const r = sps(['select', out, '--by', 'train.lr', '--metric', 'val_accuracy']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /no finished run \(1 damaged: see the warnings; the next sps run of its config redoes them\) for train\.lr=0\.2/);
    assert.doesNotMatch(r.stdout + r.stderr, /no val_accuracy/);
  });
});
