import cliProgress from 'cli-progress';
import type { CellOutcome, PlannedCell, SweepReporter } from '../train/sweep.js';
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
    else if (e.type === 'epoch') this.write(`[epoch] ${label(cell)} epoch ${e.epoch} [${e.phase}] ${fmtLosses(e.losses)} ${fmtLosses(e.metrics)} (${e.seconds.toFixed(1)} s)`);
  }
  finished(o: CellOutcome): void {
    this.done++;
    this.write(`${outcomeLine(o)} [${this.done}/${this.total}]`);
  }
  stop(): void {}
}

/** A live bar on a TTY: cells done/total, the cells in flight with their epoch, and the ETA. */
export class BarReporter implements SweepReporter {
  private readonly bar = new cliProgress.SingleBar(
    { format: '{bar} {value}/{total} cells | ETA {eta_formatted} | {current}', stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 4 },
    cliProgress.Presets.shades_classic,
  );
  private readonly current = new Map<string, string>();
  private readonly epochs = new Map<string, number>();
  private active = false;

  start(_total: number, toRun: number): void {
    this.bar.start(toRun, 0, { current: '' });
    this.active = true;
  }
  private refresh(): void {
    this.bar.update({ current: [...this.current.values()].join(' · ').slice(0, 100) });
  }
  note(line: string): void {
    if (this.active) this.bar.stop();
    process.stderr.write(line + '\n');
    if (this.active) this.bar.start(this.bar.getTotal(), this.bar.getProgress() * this.bar.getTotal(), { current: '' });
  }
  event(cell: PlannedCell, e: WorkerEvent): void {
    if (e.type === 'plan') this.epochs.set(cell.id, e.epochs);
    if (e.type === 'started' || e.type === 'epoch') {
      const total = this.epochs.get(cell.id);
      const ep = e.type === 'epoch' ? ` epoch ${e.epoch}${total ? `/${total}` : ''}` : '';
      this.current.set(cell.id, `${label(cell)}${ep}`);
      this.refresh();
    }
  }
  finished(o: CellOutcome): void {
    this.current.delete(o.cell.id);
    if (o.result !== 'done') this.note(outcomeLine(o));
    this.bar.increment(1);
    this.refresh();
  }
  stop(): void {
    if (this.active) this.bar.stop();
    this.active = false;
  }
}

export function makeReporter(): SweepReporter {
  return process.stderr.isTTY ? new BarReporter() : new LineReporter();
}
