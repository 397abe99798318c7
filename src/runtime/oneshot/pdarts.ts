/**
 * P-DARTS on the device (Chen et al. 2019, as NNI runs it): DARTS in stages. Stage i searches the supernet grown
 * by `addLayers[i]` cells (the model file's `deeper(addLayers)` export; without one, the model as it is) and
 * narrowed to the candidates still alive (`restrictCandidates`), with fresh alphas, for `epochsPerStage` epochs;
 * after it, the `drop[i]` weakest candidates of every layer key go. The last stage's argmax is mapped back to the
 * original candidates (src/search/oneshot/pdarts.ts). Each stage checkpoints in `DIR/stage-i/`, so an interrupted
 * P-DARTS resumes in the stage it stopped in.
 *
 * @example
 * const r = await pdartsSearch(graph, { gpu, train, valid, batchSize: 32, seed: 0, epochsPerStage: 2, options: { stages: 3 } });
 */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { type Graph, buildModel } from '../../ir/graph.ts';
import type { ModelDef } from '../../ir/graph.ts';
import { restrictCandidates } from '../../ir/restrict.ts';
import { searchSpace } from '../../ir/space.ts';
import { type PdartsOptions, pdartsCheck, pdartsExport, pdartsInitialKept, pdartsKeep, pdartsStages } from '../../search/oneshot/pdarts.ts';
import type { HistoryEntry } from '../../search/oneshot/types.ts';
import { eraseDriver } from './driver.ts';
import { dartsDriver } from './darts-driver.ts';
import { type OneShotError, type OneShotOptions, type OneShotResult, oneShotSearch } from './search.ts';

export interface PdartsSearchOptions extends Omit<OneShotOptions, 'driver' | 'epochs'> {
  readonly options: PdartsOptions;
  readonly epochsPerStage: number;
  /** The model with more cells (the model file's `deeper` export). */
  readonly deeper?: (addLayers: number) => ModelDef;
}

export interface PdartsResult extends OneShotResult {
  /** Per stage: the original candidate indices alive during it. */
  readonly stages: readonly { readonly addLayers: number; readonly kept: Readonly<Record<string, readonly number[]>> }[];
}

const err = (message: string): OneShotError => ({ tag: 'OneShot', message });

/** Runs P-DARTS (see the module comment). */
export const pdartsSearch = async (graph: Graph, o: PdartsSearchOptions): Promise<E.Either<readonly OneShotError[], PdartsResult>> => {
  const space = searchSpace(graph);
  const refused = pdartsCheck(space, o.options);
  if (refused.length > 0) return E.left(refused.map((e) => err(e.message)));
  const { stages: _s, addLayers: _a, drop: _d, ...darts } = o.options;
  const plan = pdartsStages(o.options);
  let kept = pdartsInitialKept(space);
  const history: HistoryEntry[] = [];
  const stages: { addLayers: number; kept: Readonly<Record<string, readonly number[]>> }[] = [];
  let last: OneShotResult | undefined;
  let seconds = 0;
  for (const stage of plan) {
    let g = graph;
    if (stage.addLayers > 0 && o.deeper !== undefined) {
      const built = buildModel(o.deeper(stage.addLayers));
      if (E.isLeft(built)) return E.left(built.left.map((e) => err(`P-DARTS stage ${stage.index + 1} (+${stage.addLayers} layers): ${e.message}`)));
      g = built.right;
    }
    const narrowed = restrictCandidates(g, kept);
    if (E.isLeft(narrowed)) return E.left(narrowed.left.map((e) => err(`P-DARTS stage ${stage.index + 1}: ${e.message}`)));
    o.progress?.note(`P-DARTS stage ${stage.index + 1} of ${plan.length}: +${stage.addLayers} layers, ${Object.values(kept)[0]?.length ?? 0} candidates per key`);
    const r = await oneShotSearch(narrowed.right, {
      ...o,
      driver: eraseDriver(dartsDriver(darts)),
      epochs: o.epochsPerStage,
      ...(o.dir === undefined ? {} : { dir: join(o.dir, `stage-${stage.index + 1}`) }),
      onEpoch: (h) => o.onEpoch?.({ ...h, epoch: stage.index * o.epochsPerStage + h.epoch, metrics: { ...h.metrics, stage: stage.index + 1 } }),
    });
    if (E.isLeft(r)) return r;
    last = r.right;
    seconds += r.right.seconds;
    stages.push({ addLayers: stage.addLayers, kept });
    // Architectures in the history name ORIGINAL candidate indices; distributions are over the stage's kept ones.
    const original = (arch: HistoryEntry['arch']): HistoryEntry['arch'] =>
      Object.fromEntries(Object.entries(arch).map(([key, idx]) => [key, idx.map((i) => kept[key]?.[i] ?? i)] as const));
    history.push(...r.right.history.map((h) => ({ ...h, arch: original(h.arch), epoch: stage.index * o.epochsPerStage + h.epoch, metrics: { ...h.metrics, stage: stage.index + 1 } })));
    if (r.right.aborted) return E.right({ ...r.right, history, stages, seconds });
    const dist = r.right.history[r.right.history.length - 1]!.distribution;
    if (stage.index === plan.length - 1) {
      return E.right({ ...r.right, arch: pdartsExport(space, kept, dist), history, stages, seconds });
    }
    kept = pdartsKeep(space, dist, kept, stage.drop);
  }
  return last === undefined ? E.left([err('P-DARTS ran no stage')]) : E.right({ ...last, history, stages, seconds });
};
