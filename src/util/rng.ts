import seedrandom from 'seedrandom';

/**
 * The one seeded random source of a run. Everything random in a run (initialisation seeds handed to
 * tfjs, shuffling, subsampling) draws from it, so a seed fixes the whole run.
 */
export class Rng {
  private readonly gen: seedrandom.prng;
  constructor(seed: number | string) {
    this.gen = seedrandom.alea(String(seed));
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.gen();
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.gen() * n);
  }
  /** A fresh 31-bit seed, e.g. for a tfjs initializer or op. */
  seed(): number {
    return this.int(2 ** 31 - 1);
  }
  /** Fisher–Yates shuffle in place. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
  /** A standard normal draw (Box–Muller). */
  normal(): number {
    const u = 1 - this.gen();
    const v = this.gen();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
