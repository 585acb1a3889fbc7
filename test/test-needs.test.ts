// test/helpers.ts needs(): a suite whose system package is missing reports itself as not run, with
// the reason and the command that enables it, unless CI=true or SPS_REQUIRE_ALL=1 make it run (and fail).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers.js';

function runFixture(env: Record<string, string | undefined>) {
  // NODE_TEST_CONTEXT would make the child report to this runner instead of printing TAP.
  const { CI: _ci, SPS_REQUIRE_ALL: _all, NODE_TEST_CONTEXT: _ctx, ...base } = process.env;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', join(ROOT, 'test/fixtures/needs-chromium.ts')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...base, SPS_CHROMIUM: '/nonexistent/chromium', ...env },
    timeout: 120_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('suites that need a system package', () => {
  it('are skipped with one line naming why and the command that enables them', () => {
    const r = runFixture({});
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /ok 1 - opens Chromium # SKIP not run: \/nonexistent\/chromium not found; to run it: sudo apt-get install -y chromium/);
    assert.match(
      r.out,
      /sps tests: test\/fixtures\/needs-chromium\.ts: not run: \/nonexistent\/chromium not found; to run it: sudo apt-get install -y chromium/,
    );
    assert.match(r.out, /ok 2 - needs nothing/);
  });

  for (const env of [{ CI: 'true' }, { SPS_REQUIRE_ALL: '1' }]) {
    it(`run and fail under ${Object.keys(env)[0]}=${Object.values(env)[0]}`, () => {
      const r = runFixture(env);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /not ok 1 - opens Chromium/);
      assert.doesNotMatch(r.out, /SKIP/);
    });
  }
});
