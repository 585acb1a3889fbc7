import seedrandom from 'seedrandom';

/**
 * The purposes a run draws random numbers for, each from its own stream (`Rng.stream`). A task may
 * name others (e.g. 'dropout'); these are the ones the trainer and the built-in tasks use.
 */
export const STREAMS = {
  /** Network and pairwise initialisation (and anything else drawn while building the model). */
  init: 'init',
  /** The order of the training examples, epoch after epoch. */
  batchOrder: 'batch-order',
  /** The selection subset of online scaling and of the norm log (`scaling.selection`). */
  selection: 'selection',
  /** Dropout masks, one seed per training step (a model with `dropout` > 0). */
  dropout: 'dropout',
} as const;

/**
 * A seeded random source. A run's root source (seeded by the cell's seed) hands out one stream per
 * purpose, each derived from the seed and the purpose's name only: so how many numbers one purpose
 * draws (a larger selection subset, a longer schedule) never moves another's, and a key that changes
 * one purpose's draws changes nothing else.
 */
export class Rng {
  private readonly gen: seedrandom.prng;
  private readonly seedText: string;
  private readonly streams = new Map<string, Rng>();
  constructor(seed: number | string) {
    this.seedText = String(seed);
    this.gen = seedrandom.alea(this.seedText);
  }
  /**
   * The stream of `purpose`, seeded by this source's seed and the purpose's name (not by anything drawn
   * so far). The same object for the same purpose, so successive draws of one purpose continue.
   */
  stream(purpose: string): Rng {
    let s = this.streams.get(purpose);
    if (!s) {
      s = new Rng(`${this.seedText}/${purpose}`);
      this.streams.set(purpose, s);
    }
    return s;
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
