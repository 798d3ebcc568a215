/**
 * A one-line progress bar on stderr. On a terminal it redraws in place; in CI logs (not a TTY) it prints
 * a plain line at every 10% so logs stay short. `quiet` silences everything but `done` lines.
 */
export class ProgressBar {
  private readonly start = Date.now();
  private lastDecile = -1;
  private readonly tty: boolean;

  constructor(
    readonly label: string,
    readonly total: number,
    readonly options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {},
  ) {
    this.tty = Boolean((options.stream ?? process.stderr).isTTY);
  }

  private get stream(): NodeJS.WriteStream {
    return this.options.stream ?? process.stderr;
  }

  /** Seconds since the bar started. */
  elapsed(): number {
    return (Date.now() - this.start) / 1000;
  }

  update(done: number, info = ''): void {
    if (this.options.quiet) return;
    const fraction = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const elapsed = this.elapsed();
    const eta = fraction > 0 ? (elapsed * (1 - fraction)) / fraction : NaN;
    const text = `${this.label} ${formatBar(fraction)} ${done}/${this.total} ${info} ${formatDuration(elapsed)} elapsed, ETA ${formatDuration(eta)}`;
    if (this.tty) {
      this.stream.write(`\r${text.slice(0, (this.stream.columns || 120) - 1)}\x1b[K`);
    } else {
      const decile = Math.floor(fraction * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        this.stream.write(`${text}\n`);
      }
    }
  }

  /** Ends the bar with a summary line (printed even when quiet). */
  done(summary: string): void {
    if (this.tty && !this.options.quiet) this.stream.write('\r\x1b[K');
    this.stream.write(`${this.label} ${summary} (${formatDuration(this.elapsed())})\n`);
  }
}

function formatBar(fraction: number, width = 20): string {
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
