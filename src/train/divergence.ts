import type { EpochInput } from '../core/task.js';

/**
 * A loss that blows up but stays finite (2e36, say) does not fail a run the way NaN does, yet its
 * result is not to be trusted. The rule (docs/failure-modes.md): an epoch's loss diverged when its
 * absolute value is above LOSS_LIMIT, or at least 1 and more than GROWTH_LIMIT times its value in
 * the first epoch of the same phase. The committed runs of the paper's three tasks stay below 30
 * and only ever fall, so neither bound is near a healthy run.
 */
export const LOSS_LIMIT = 1e6;
export const GROWTH_LIMIT = 1e3;

const fmt = (x: number): string => {
  const r = Number(x.toPrecision(3));
  return Math.abs(r) >= 1e5 ? r.toExponential() : String(r);
};

/** Watches one run's epochs; reports each (phase, loss) the first time it diverges. */
export class DivergenceWatch {
  private readonly first = new Map<string, number>();
  private readonly warned = new Set<string>();

  /** A warning for run.json when this epoch shows a divergence not reported yet; undefined otherwise. */
  check(rec: Pick<EpochInput, 'epoch' | 'phase' | 'losses'>): string | undefined {
    const found: string[] = [];
    for (const [name, v] of Object.entries(rec.losses)) {
      if (!Number.isFinite(v)) continue; // NaN and ±∞ fail the run instead
      const key = `${rec.phase}\u0000${name}`;
      const first = this.first.get(key);
      if (first === undefined) this.first.set(key, v);
      if (this.warned.has(key)) continue;
      const a = Math.abs(v);
      const why =
        a > LOSS_LIMIT
          ? `above ${fmt(LOSS_LIMIT)}`
          : first !== undefined && a >= 1 && a > GROWTH_LIMIT * Math.abs(first)
            ? `more than ${fmt(GROWTH_LIMIT)} times its first-epoch value ${fmt(first)}`
            : undefined;
      if (why === undefined) continue;
      this.warned.add(key);
      found.push(`loss '${name}' reached ${fmt(v)}, ${why}`);
    }
    if (found.length === 0) return undefined;
    return `epoch ${rec.epoch} (${rec.phase}): ${found.join('; ')}: the training diverged although the loss stayed finite, so this result is not reliable. Lower the learning rate (train.lr / train.stage.*_lr) or set train.grad_clip, then redo the cell with sps run --force.`;
  }
}
