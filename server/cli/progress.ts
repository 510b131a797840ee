/**
 * The import's progress display on stderr: on a terminal one line redrawn in place (a bar over the bytes read,
 * resources/s, ETA, files done); elsewhere (CI logs, pipes) a plain line at most every few seconds. Messages
 * (a file done, a failure) are printed above the bar.
 */
export interface ProgressState {
  totalBytes: number;
  doneBytes: number;
  resources: number;
  files: number;
  filesDone: number;
  failed: number;
}

const BAR = 24;
const TTY_INTERVAL_MS = 100;
const PLAIN_INTERVAL_MS = 5000;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const n = (v: number): string => Math.round(v).toLocaleString('en-US');

export class Progress {
  readonly state: ProgressState = { totalBytes: 0, doneBytes: 0, resources: 0, files: 0, filesDone: 0, failed: 0 };
  private readonly started = Date.now();
  private lastDraw: number;
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    // Plain output: the first line after one interval (file lines already say what happens).
    this.lastDraw = this.tty ? 0 : this.started;
  }

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  elapsedSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  line(): string {
    const s = this.state;
    const elapsed = Math.max(this.elapsedSeconds(), 0.001);
    const fraction = s.totalBytes ? Math.min(s.doneBytes / s.totalBytes, 1) : 0;
    const rate = s.resources / elapsed;
    const eta = fraction > 0 ? (elapsed * (1 - fraction)) / fraction : NaN;
    const filled = Math.round(fraction * BAR);
    const bar = this.tty ? `[${'='.repeat(Math.max(filled - 1, 0))}${filled ? '>' : ''}${' '.repeat(BAR - filled)}] ` : '';
    const failed = s.failed ? `, ${s.failed} failed` : '';
    return `${bar}${(fraction * 100).toFixed(0).padStart(3)}%  ${n(s.resources)} resources  ${n(rate)}/s  ETA ${formatDuration(eta)}  files ${s.filesDone}/${s.files}${failed}`;
  }

  /** Redraws (terminal, at most every 100 ms) or prints (plain, at most every 5 s) the progress line. */
  update(): void {
    const now = Date.now();
    const interval = this.tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS;
    if (now - this.lastDraw < interval) return;
    this.lastDraw = now;
    if (this.tty) {
      this.out.write(`\r${this.line()}\x1b[K`);
      this.drawn = true;
    } else {
      this.out.write(`${this.line()}\n`);
    }
  }

  /** A message on its own line, above the bar. */
  message(text: string): void {
    if (this.tty && this.drawn) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    if (this.tty && this.drawn) this.out.write(`${this.line()}\x1b[K`);
  }

  /** Final line; the bar is left in place on a terminal. */
  finish(): void {
    if (this.tty) {
      this.out.write(`\r${this.line()}\x1b[K\n`);
      this.drawn = false;
    } else {
      this.out.write(`${this.line()}\n`);
    }
  }
}
