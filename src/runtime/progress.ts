/**
 * Training progress for people: on a terminal, one line redrawn in place (a bar, the step, the running loss and
 * accuracy, the rate and the time left) at most ten times a second; elsewhere (a log file, a CI job, a pipe) plain
 * lines, one per epoch, so logs stay readable. Long phases that are not epochs (SPOS' evolution scoring its
 * candidates) get a cli-progress bar with an ETA on a terminal, and a plain line at every quarter elsewhere.
 *
 * @example
 * const progress = progressReporter(process.stderr);
 * const r = await train(graph, data, { ...options, progress });
 */
import cliProgress from 'cli-progress';
import type { EpochMetrics } from './checkpoint.ts';

/** What the training loop tells its observer. Every method is optional to implement (use `silentProgress`). */
export interface ProgressSink {
  readonly epochStart: (epoch: number, epochs: number, steps: number) => void;
  /** After step `done` of `steps` of the epoch, with the epoch's running mean loss and accuracy so far. */
  readonly step: (done: number, steps: number, loss: number, accuracy: number) => void;
  readonly epochEnd: (m: EpochMetrics, epochs: number) => void;
  /** A note (e.g. 'resuming from …'). */
  readonly note: (text: string) => void;
  /** A long phase that is not an epoch begins (SPOS' evolution: `total` candidates to score, `done` already scored). */
  readonly phaseStart?: (name: string, total: number, done: number) => void;
  /** `done` of `total` units of the phase finished; `detail` e.g. "best 81.25%". */
  readonly phaseStep?: (done: number, total: number, detail: string) => void;
  readonly phaseEnd?: () => void;
}

/** A sink that shows nothing. */
export const silentProgress: ProgressSink = { epochStart: () => undefined, step: () => undefined, epochEnd: () => undefined, note: () => undefined };

/** The stream a reporter writes to: `process.stderr` or anything with its `write`, `isTTY` and `columns`. */
export interface ProgressStream {
  readonly write: (text: string) => unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);
const num = (x: number | undefined): string => (x === undefined ? '-' : Number.isFinite(x) ? x.toFixed(4) : String(x));

/** " top-5 98.10%" when the metric was measured (older checkpoints' histories lack it), else nothing. */
const top5 = (x: number | undefined): string => (x === undefined ? '' : ` top-5 ${pct(x)}`);

/**
 * One line summing up an epoch: loss and accuracy, then valid/test loss, accuracy and top-5 accuracy.
 *
 * @example
 * formatEpoch(m, 5); // "epoch 2/5  loss 0.4312  acc 85.20%  valid 0.3901 86.90% top-5 99.10%  lr 0.01000  12.3s"
 */
export const formatEpoch = (m: EpochMetrics, epochs: number): string => {
  const parts = [`epoch ${m.epoch}/${epochs}`, `loss ${num(m.trainLoss)}`, `acc ${pct(m.trainAccuracy)}`];
  if (m.validLoss !== undefined) parts.push(`valid ${num(m.validLoss)} ${pct(m.validAccuracy)}${top5(m.validTop5Accuracy)}`);
  if (m.testLoss !== undefined) parts.push(`test ${num(m.testLoss)} ${pct(m.testAccuracy)}${top5(m.testTop5Accuracy)}`);
  parts.push(`lr ${m.lr.toPrecision(4)}`);
  if (m.skippedSteps > 0) parts.push(`skipped ${m.skippedSteps} non-finite steps`);
  parts.push(`${m.seconds.toFixed(1)}s`);
  return parts.join('  ');
};

/** A text bar of `width` cells, `frac` of them full. */
export const bar = (frac: number, width: number): string => {
  const full = Math.max(0, Math.min(width, Math.round(frac * width)));
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
};

/**
 * Time left at a constant rate, from `elapsedMs` for `done` of `total` units: `"1m20s"`, `"12s"`, `"?"` before any.
 *
 * @example
 * etaText(10_000, 1, 9); // "1m20s"
 */
export const etaText = (elapsedMs: number, done: number, total: number): string => {
  if (!(done > 0) || !(elapsedMs >= 0)) return '?';
  const s = Math.round(((total - done) * elapsedMs) / done / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

/**
 * A reporter on `stream`: a redrawn bar when it is a TTY, plain epoch lines otherwise. `now` is injectable for
 * tests (milliseconds).
 */
export const progressReporter = (stream: ProgressStream, now: () => number = () => performance.now()): ProgressSink => {
  const tty = stream.isTTY === true;
  let epochLabel = '';
  let started = 0;
  let lastDraw = -Infinity;
  let drawn = false;
  let phase: { readonly name: string; readonly started: number; readonly from: number; quarter: number } | undefined;
  let phaseBar: cliProgress.SingleBar | undefined;
  const clear = (): void => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    epochStart: (epoch, epochs) => {
      epochLabel = `epoch ${epoch}/${epochs}`;
      started = now();
      lastDraw = -Infinity;
    },
    step: (done, steps, loss, accuracy) => {
      if (!tty) return;
      const t = now();
      if (t - lastDraw < 100 && done < steps) return;
      lastDraw = t;
      const rate = done / Math.max(1e-9, (t - started) / 1000);
      const text = `${epochLabel} ${bar(done / steps, 24)} ${done}/${steps}  ETA ${etaText(t - started, done, steps)}  loss ${num(loss)}  acc ${pct(accuracy)}  ${rate.toFixed(1)} steps/s`;
      const width = stream.columns ?? 100;
      stream.write(`\r\x1b[2K${text.slice(0, Math.max(10, width - 1))}`);
      drawn = true;
    },
    epochEnd: (m, epochs) => {
      clear();
      stream.write(`${formatEpoch(m, epochs)}\n`);
    },
    note: (text) => {
      clear();
      stream.write(`${text}\n`);
    },
    phaseStart: (name, total, done) => {
      clear();
      phase = { name, started: now(), from: done, quarter: 0 };
      if (tty) {
        phaseBar = new cliProgress.SingleBar(
          { stream: stream as unknown as NodeJS.WritableStream, format: `${name} {bar} {value}/{total} candidates  {detail}  ETA {eta_formatted}`, hideCursor: false, clearOnComplete: true, barsize: 24, etaBuffer: 50 },
          cliProgress.Presets.legacy,
        );
        phaseBar.start(total, done, { detail: '' });
      } else stream.write(`${name}: ${total} candidates to score${done > 0 ? ` (${done} already scored)` : ''}\n`);
    },
    phaseStep: (done, total, detail) => {
      if (phaseBar !== undefined) {
        phaseBar.setTotal(total);
        phaseBar.update(done, { detail });
        return;
      }
      if (phase === undefined) return;
      // Plain lines at each quarter of the phase, with the time left at the rate so far.
      const q = Math.floor((4 * done) / Math.max(1, total));
      if (q > phase.quarter || done === total) {
        phase.quarter = q;
        const left = done >= total ? 'done' : `${etaText(now() - phase.started, done - phase.from, total - phase.from)} left`;
        stream.write(`${phase.name}: ${done}/${total} scored, ${detail}, ${left}\n`);
      }
    },
    phaseEnd: () => {
      phaseBar?.stop();
      phaseBar = undefined;
      phase = undefined;
    },
  };
};
