/**
 * The median stopping rule (Golovin et al. 2017, "Google Vizier"; NNI's MedianStop assessor), as a pure
 * decision: a running trial is stopped at epoch e when the best value of its objective so far is worse than the
 * median of the values the OTHER (completed) trials reported at epoch e. It never stops a trial during its first
 * `graceEpochs` reports, nor before `minTrials` other trials have a value at that epoch, so early noise and an
 * empty history cannot kill a good trial.
 *
 * Unlike NNI (which compares with the median of running averages), the comparison is with the others' values at
 * the same epoch: a learning curve is compared with learning curves at the same point of training.
 *
 * @example
 * const rule = medianStopRule({ minTrials: 3, graceEpochs: 1 });
 * medianStop(rule, 'maximize', [{ epoch: 0, value: 0.2 }, { epoch: 1, value: 0.3 }], others); // 'stop' | 'continue'
 */
import type { Direction } from '../search/strategy.ts';

/** Options of the median stopping rule; every field has a default. */
export interface MedianStopOptions {
  /** The per-epoch metric compared (a key of the metrics a trial reports); default 'objective'. */
  readonly metric?: string;
  /** How many other trials must have a value at the epoch before any trial is stopped; default 3. */
  readonly minTrials?: number;
  /** A trial is never stopped at one of its first `graceEpochs` reports; default 1. */
  readonly graceEpochs?: number;
}

/** `MedianStopOptions` with the defaults filled in. */
export interface MedianStopRule {
  readonly metric: string;
  readonly minTrials: number;
  readonly graceEpochs: number;
}

/** One reported value of the compared metric. */
export interface CurvePoint {
  readonly epoch: number;
  readonly value: number;
}

/** The rule with defaults filled in (see `MedianStopOptions`). */
export const medianStopRule = (options: MedianStopOptions = {}): MedianStopRule => ({
  metric: options.metric ?? 'objective',
  minTrials: options.minTrials ?? 3,
  graceEpochs: options.graceEpochs ?? 1,
});

/** Every problem with the rule's options, as messages naming the option; empty when valid. */
export const checkMedianStopRule = (rule: MedianStopRule): readonly string[] => [
  ...(rule.metric === '' ? ["early stop: option 'metric' must be a non-empty metric name"] : []),
  ...(Number.isInteger(rule.minTrials) && rule.minTrials >= 1 ? [] : [`early stop: option 'minTrials' must be an integer ≥ 1, got ${rule.minTrials}`]),
  ...(Number.isInteger(rule.graceEpochs) && rule.graceEpochs >= 0 ? [] : [`early stop: option 'graceEpochs' must be an integer ≥ 0, got ${rule.graceEpochs}`]),
];

/**
 * The median of `xs` (the mean of the two middle values for an even count); undefined for an empty list.
 *
 * @example
 * median([3, 1, 2]); // 2
 * median([4, 1, 2, 3]); // 2.5
 */
export const median = (xs: readonly number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The value a curve has at `epoch` (its last report of that epoch), if any and finite. */
export const valueAt = (curve: readonly CurvePoint[], epoch: number): number | undefined => {
  for (let i = curve.length - 1; i >= 0; i--) {
    const p = curve[i]!;
    if (p.epoch === epoch) return Number.isFinite(p.value) ? p.value : undefined;
  }
  return undefined;
};

/** The best finite value of a curve, direction-aware; undefined when it has none. */
export const bestOf = (direction: Direction, curve: readonly CurvePoint[]): number | undefined => {
  let best: number | undefined;
  for (const { value } of curve) {
    if (!Number.isFinite(value)) continue;
    if (best === undefined || (direction === 'maximize' ? value > best : value < best)) best = value;
  }
  return best;
};

/**
 * Whether to stop a trial whose reports so far are `curve` (its latest report last, at the epoch being judged),
 * given the curves of the other completed trials. Non-finite values are ignored; a trial with no finite value
 * yet is worse than any median (a NaN loss does not recover). Strictly worse only: a tie continues.
 *
 * @example
 * // maximize: best so far 0.3 < median(0.5, 0.6, 0.7) at epoch 1 → 'stop'
 * medianStop(medianStopRule(), 'maximize',
 *   [{ epoch: 0, value: 0.1 }, { epoch: 1, value: 0.3 }],
 *   [[{ epoch: 1, value: 0.5 }], [{ epoch: 1, value: 0.6 }], [{ epoch: 1, value: 0.7 }]]);
 */
export const medianStop = (
  rule: MedianStopRule,
  direction: Direction,
  curve: readonly CurvePoint[],
  others: readonly (readonly CurvePoint[])[],
): 'continue' | 'stop' => {
  const last = curve[curve.length - 1];
  if (last === undefined || curve.length <= rule.graceEpochs) return 'continue';
  const atEpoch = others.flatMap((o) => {
    const v = valueAt(o, last.epoch);
    return v === undefined ? [] : [v];
  });
  if (atEpoch.length < rule.minTrials) return 'continue';
  const m = median(atEpoch)!;
  const best = bestOf(direction, curve);
  if (best === undefined) return 'stop';
  return (direction === 'maximize' ? best < m : best > m) ? 'stop' : 'continue';
};
