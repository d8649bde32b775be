/**
 * A progress bar on a terminal (stderr). Silent when the stream is not a TTY,
 * so logs and pipes get no control characters.
 */
import type { CliOutput } from "./io.js";
import { formatBytes } from "./format.js";

const REDRAW_INTERVAL_MS = 80;

/** A one-line progress bar redrawn in place with `\r`. */
export interface ProgressBar {
  /** Reports `done` of `total` bytes. */
  update(done: number, total: number): void;
  /** Draws the final state and ends the line. Idempotent. */
  finish(): void;
}

/** A bar labelled `label`, drawn on `out` when it is a TTY; a no-op otherwise. */
export function progressBar(out: CliOutput, label: string): ProgressBar {
  if (out.isTTY !== true) return { update() {}, finish() {} };
  let lastDraw = 0;
  let drawn = false;
  let finished = false;
  let last: [number, number] = [0, 0];
  const draw = (done: number, total: number): void => {
    const width = Math.max(10, Math.min(30, (out.columns ?? 80) - label.length - 40));
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
    out.write(`\r${label} [${bar}] ${percent}  ${formatBytes(done)} / ${formatBytes(total)}\u001b[K`);
    drawn = true;
  };
  return {
    update(done, total) {
      if (finished) return;
      last = [done, total];
      const now = Date.now();
      if (now - lastDraw < REDRAW_INTERVAL_MS && done < total) return;
      lastDraw = now;
      draw(done, total);
    },
    finish() {
      if (finished) return;
      finished = true;
      if (!drawn && last[1] === 0) return;
      draw(last[0], last[1]);
      out.write("\n");
    },
  };
}
