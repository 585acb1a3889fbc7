import cliProgress from 'cli-progress';
import type { PlannedCell } from '../train/plan.js';
import type { CellOutcome, SweepReporter } from '../train/sweep.js';
import type { WorkerEvent } from '../train/execute.js';

const label = (p: PlannedCell) => `${p.config.task}/${p.config.objective}/${p.config.mode}/seed${p.config.seed}`;
const fmtLosses = (l: Record<string, number>) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(4)) : String(v)}`)
    .join(' ');

function outcomeLine(o: CellOutcome): string {
  const what = o.result === 'done' ? `done in ${o.seconds?.toFixed(1)} s` : `${o.result}${o.detail ? `: ${o.detail}` : ''}`;
  return `[cell] ${label(o.cell)} (${o.cell.id}) ${what}`;
}

/** Plain lines, one per epoch and per finished cell: readable in CI logs and files. */
export class LineReporter implements SweepReporter {
  private done = 0;
  private total = 0;
  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(l + '\n')) {}
  start(total: number, toRun: number): void {
    this.total = toRun;
    this.write(`sweep: ${total} cells, ${total - toRun} already done, ${toRun} to run`);
  }
  note(line: string): void {
    this.write(line);
  }
  event(cell: PlannedCell, e: WorkerEvent): void {
    if (e.type === 'started') this.write(`[start] ${label(cell)} (${cell.id}) on ${e.backend}`);
    else if (e.type === 'epoch')
      this.write(`[epoch] ${label(cell)} epoch ${e.epoch} [${e.phase}] ${fmtLosses(e.losses)} ${fmtLosses(e.metrics)} (${e.seconds.toFixed(1)} s)`);
  }
  finished(o: CellOutcome): void {
    this.done++;
    this.write(`${outcomeLine(o)} [${this.done}/${this.total}]`);
  }
  stop(): void {}
}

/**
 * A live bar on a TTY: cells done/total, the cells in flight with their epoch, and an ETA. The bar
 * advances by epochs within cells (cells report their planned epochs), so the ETA moves during long
 * cells instead of only when a whole cell ends.
 */
export class BarReporter implements SweepReporter {
  private readonly bar = new cliProgress.SingleBar(
    { format: '{bar} {done}/{cells} cells | ETA {remaining} | {current}', stream: process.stderr, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  private readonly current = new Map<string, string>();
  private readonly epochs = new Map<string, number>();
  /** Fraction of each in-flight cell done. */
  private readonly partial = new Map<string, number>();
  private done = 0;
  private toRun = 0;
  private startedAt = 0;
  private active = false;

  start(_total: number, toRun: number): void {
    this.toRun = toRun;
    this.startedAt = Date.now();
    this.bar.start(Math.max(1, toRun), 0, this.payload());
    this.active = true;
  }
  private progress(): number {
    let p = this.done;
    for (const f of this.partial.values()) p += f;
    return p;
  }
  private payload(): Record<string, string | number> {
    const p = this.progress();
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const eta = p > 0 ? ((this.toRun - p) * elapsed) / p : NaN;
    return {
      done: this.done,
      cells: this.toRun,
      remaining: Number.isFinite(eta) ? formatSeconds(eta) : '—',
      current: [...this.current.values()].join(' · ').slice(0, 100),
    };
  }
  private refresh(): void {
    if (this.active) this.bar.update(this.progress(), this.payload());
  }
  note(line: string): void {
    if (this.active) this.bar.stop();
    process.stderr.write(line + '\n');
    if (this.active) this.bar.start(Math.max(1, this.toRun), this.progress(), this.payload());
  }
  event(cell: PlannedCell, e: WorkerEvent): void {
    if (e.type === 'plan') this.epochs.set(cell.id, e.epochs);
    if (e.type === 'started' || e.type === 'epoch') {
      const total = this.epochs.get(cell.id);
      if (e.type === 'epoch' && total) this.partial.set(cell.id, Math.min(1, e.epoch / total));
      const ep = e.type === 'epoch' ? ` epoch ${e.epoch}${total ? `/${total}` : ''}` : '';
      this.current.set(cell.id, `${label(cell)}${ep}`);
      this.refresh();
    }
  }
  finished(o: CellOutcome): void {
    this.current.delete(o.cell.id);
    this.partial.delete(o.cell.id);
    this.done++;
    if (o.result !== 'done') this.note(outcomeLine(o));
    this.refresh();
  }
  stop(): void {
    if (this.active) this.bar.stop();
    this.active = false;
  }
}

function formatSeconds(s: number): string {
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}min`;
  return `${(s / 3600).toFixed(1)}h`;
}

export function makeReporter(): SweepReporter {
  return process.stderr.isTTY ? new BarReporter() : new LineReporter();
}
