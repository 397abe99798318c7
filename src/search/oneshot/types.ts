/**
 * Types shared by the one-shot algorithms (DARTS, P-DARTS, GDAS, ProxylessNAS, ENAS, SPOS). Their state and updates
 * are pure functions here in `src/search/oneshot`; the supernet they steer — mixed (every candidate computed and
 * weighted) or sampled (one architecture per step, weights shared) — runs on the GPU in `src/runtime/oneshot`.
 *
 * The interface between the two is numbers per choice key: the algorithm hands the runtime mix weights (one vector
 * per key, the candidates' run-time weights in a mixed supernet) or an architecture; the runtime hands back ∂L/∂w per
 * key, a loss, an accuracy.
 *
 * @example
 * const w: KeyVectors = { op1: [0.2, 0.5, 0.3], skip: [1, 1] }; // layer choice op1 mixed, input choice skip summed
 */

/** One vector per choice key: logits, probabilities, mix weights or their gradients. Plain JSON. */
export type KeyVectors = Readonly<Record<string, readonly number[]>>;

/** The one-shot algorithms of `nasgraph search --strategy`. */
export type OneShotName = 'darts' | 'pdarts' | 'enas' | 'spos' | 'proxyless' | 'gdas' | 'fbnet';

export const ONE_SHOT_NAMES: readonly OneShotName[] = ['darts', 'pdarts', 'enas', 'spos', 'proxyless', 'gdas', 'fbnet'];

/** One row of the per-epoch architecture history (`DIR/history.json`): the distribution each key's choice follows. */
export interface HistoryEntry {
  readonly epoch: number;
  /** Softmax of the alphas (DARTS, GDAS, ProxylessNAS, P-DARTS) or the controller's greedy probabilities (ENAS). */
  readonly distribution: KeyVectors;
  /** The architecture the algorithm would export now. */
  readonly arch: Readonly<Record<string, readonly number[]>>;
  readonly metrics: Readonly<Record<string, number>>;
}
