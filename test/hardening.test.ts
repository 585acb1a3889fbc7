/**
 * Issue 33: hostile input (configs, run folders, plans) stays inert, and kills and races leave
 * consistent files. Each test here failed before its fix; the security ones use the payloads.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, sps, tempDir } from './helpers.js';

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
    for (const [key, value] of [['partition', '"debug\\ntouch /tmp/x"'], ['sbatch_args', '["--account=abc\\ntouch /tmp/x"]'], ['setup', '"module load nodejs\\ntouch /tmp/x"']]) {
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
    for (const [opt, value] of [['--partition', 'debug\ntouch /tmp/x'], ['--sbatch-arg', '--account=abc\ntouch /tmp/x'], ['--setup', 'true\ntouch /tmp/x'], ['--partition', 'debug;touch /tmp/x']]) {
      const r = sps(['run', TOY, '--launcher', 'slurm', '--out', out, '--dry-run', `${opt}=${value}`]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, new RegExp(`^sps: ${opt}: `), r.stderr);
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
    for (const names of imgs) assert.deepEqual(names.filter((n) => !['src', 'alt', 'class'].includes(n)), []);
    for (const tag of ['tr', 'figure', 'h2', 'h3', 'td']) for (const names of attributeNames(html, tag)) assert.ok(!names.some((n) => n.startsWith('on')), `${tag}: ${names}`);
    assert.doesNotMatch(html, /<script>alert/);
    // Every image the report links is a file of the report folder.
    for (const m of html.matchAll(/<img src="([^"]*)"/g)) assert.ok(existsSync(join(out, m[1].replace(/&amp;/g, '&'))), m[1]);
    for (const f of readdirSync(join(out, 'images'))) assert.match(f, /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/);

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.doesNotMatch(md, /<img|<script/);
    assert.ok(md.includes('onerror'), 'the strings are shown, escaped');
  });
});
