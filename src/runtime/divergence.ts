/**
 * Divergence that stays finite: a loss that grows far above where it started (a learning rate too high for the
 * model) ruins the run as surely as a NaN, but no arithmetic fails, so without a check the search would run to its
 * end and derive an architecture from noise. The rule: an epoch's mean training loss above `factor` times the loss
 * of the run's first step (an untrained network's, near ln(classes)) stops the run with a named error.
 *
 * @example
 * divergence({ loss: 1.5e29, first: 2.30, epoch: 1 }); // "… more than 10× the first step's loss (2.300) …"
 * divergence({ loss: 0.9, first: 2.30, epoch: 1 });    // undefined
 */

/** How many times its first value an epoch's mean training loss may reach before the run counts as diverged. */
export const DIVERGENCE_FACTOR = 10;

/** The observation `divergence` judges. */
export interface LossObservation {
  /** The epoch's mean training loss. */
  readonly loss: number;
  /** The loss of the run's first step (before any update). */
  readonly first: number;
  /** The epoch (1-based), for the message. */
  readonly epoch: number;
}

/**
 * Why the run diverged (one line, naming the loss, its first value and the factor), or undefined when it has not.
 * Non-finite losses are left to the NaN check (they have their own message).
 */
export const divergence = (o: LossObservation, factor: number = DIVERGENCE_FACTOR): string | undefined =>
  Number.isFinite(o.loss) && Number.isFinite(o.first) && o.first > 0 && o.loss > factor * o.first
    ? `diverged: the mean training loss of epoch ${o.epoch} (${o.loss.toPrecision(4)}) is more than ${factor}× the first step's loss (${o.first.toPrecision(4)}); lower --lr`
    : undefined;
