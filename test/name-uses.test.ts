// docs/architecture.md lists the files that name a mode or a built-in task; scripts/name-uses.ts
// counts them in the code. A new comparison of a mode name (a colour table, a hard-coded list of
// modes) fails here until the entry is used instead or the doc says why.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MODE_SPECS } from '../src/core/modes.js';
import { modeScale } from '../src/results/report/figures.js';
import { nameUses } from '../scripts/name-uses.js';
import { ROOT } from './helpers.js';

/** The backticked src/ paths of the doc's bullet that starts with `- ${lead}:`. */
function documented(lead: string): string[] {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const line = doc.split('\n').find((l) => l.startsWith(`- ${lead}:`));
  assert.ok(line, `docs/architecture.md has no "- ${lead}:" line`);
  return [...line.matchAll(/`(src\/[^`]+\.ts)`/g)].map((m) => m[1]).sort();
}

describe('where the code names modes and tasks (docs/architecture.md, scripts/name-uses.ts)', () => {
  const uses = nameUses(ROOT);

  it('the files that name a mode are the ones the doc lists', () => {
    assert.deepEqual([...uses.modes.keys()].sort(), documented('name a mode'));
  });

  it('the files that name a built-in task are the ones the doc lists', () => {
    assert.deepEqual([...uses.tasks.keys()].sort(), documented('name a built-in task'));
  });

  it('outside the claims, the report reads mode entries: only the claim files name the scaling modes', () => {
    const scaling = ['online', 'offline', 'offline-reg'];
    const naming = [...uses.modes].filter(([, names]) => names.some((n) => scaling.includes(n))).map(([f]) => f);
    assert.deepEqual(naming.sort(), ['src/core/modes.ts', 'src/results/report/claims.ts']);
  });

  it("the figures' colours are the entries' colours", () => {
    const online: { color: string } = MODE_SPECS.online;
    const before = online.color;
    online.color = '#123456';
    try {
      assert.deepEqual(modeScale(['joint', 'online']), { domain: ['joint', 'online'], range: [MODE_SPECS.joint.color, '#123456'] });
    } finally {
      online.color = before;
    }
  });
});
