/**
 * One-shot search end to end on the device: on a space where one candidate per key is clearly best (clear-best.ts),
 * every algorithm's derived architecture picks it within a small budget; the history has one entry per epoch; a
 * search interrupted after its first epoch and resumed from its checkpoint ends exactly where an uninterrupted one
 * does; a space an algorithm cannot search is refused naming the key.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, expect, it } from 'vitest';
import { apply } from '../../../src/ir/apply.ts';
import { type AnyDriver, eraseDriver } from '../../../src/runtime/oneshot/driver.ts';
import { dartsDriver } from '../../../src/runtime/oneshot/darts-driver.ts';
import { gdasDriver } from '../../../src/runtime/oneshot/gdas-driver.ts';
import { candidateCosts, candidateLatencies, proxylessDriver } from '../../../src/runtime/oneshot/proxyless-driver.ts';
import { Supernet } from '../../../src/runtime/oneshot/supernet.ts';
import { searchSpace } from '../../../src/ir/space.ts';
import { countMacs } from '../../../src/runtime/trial-evaluator.ts';
import { enasDriver } from '../../../src/runtime/oneshot/enas-driver.ts';
import { sposDriver } from '../../../src/runtime/oneshot/spos-driver.ts';
import { pdartsSearch } from '../../../src/runtime/oneshot/pdarts.ts';
import { type OneShotResult, oneShotSearch } from '../../../src/runtime/oneshot/search.ts';
import { describeGpu } from '../../gpu.ts';
import { BEST, clearBestData, clearBestGraph } from './clear-best.ts';
import type { HistoryEntry } from '../../../src/search/oneshot/types.ts';
import { silentProgress } from '../../../src/runtime/progress.ts';
import { buildModel, conv2d, defineModel, flatten, identity, layerChoice, linear, relu, sequential, zero } from '../../../src/ir/index.ts';

const graph = clearBestGraph();
/** 27 architectures: enough for SPOS' evolution to run several generations. */
const wideGraph = (() => {
  const choice = () => layerChoice({ none: zero(1), skip: identity(), relu: relu() });
  const g = buildModel(defineModel({ name: 'wide', input: [1, 8, 8], layer: sequential({ stem: conv2d({ out: 4, kernel: 3, padding: 1 }), op1: choice(), op2: choice(), op3: choice(), flat: flatten(), fc: linear({ out: 4 }) }) }));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
})();
const { train, valid } = clearBestData();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'nasgraph-oneshot-'));
  dirs.push(d);
  return d;
};

const right = <T extends OneShotResult>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

/**
 * The algorithms under test, each with a small budget (epochs, and a faster architecture learning rate where it has
 * one). Seeds 1–10 were tried while choosing the budgets: every algorithm found (skip, skip) on all ten, except
 * ENAS on seed 8, whose controller settled on (none, none) before the shared weights had learned anything on
 * (skip, skip) — REINFORCE's known rich-get-richer failure; the test runs seed 1.
 */
const algorithms: readonly { readonly name: string; readonly driver: () => AnyDriver; readonly epochs: number; readonly lr?: number }[] = [
  { name: 'darts (first order)', driver: () => eraseDriver(dartsDriver({ lr: 3e-2 })), epochs: 3, lr: 0.05 },
  { name: 'darts (second order)', driver: () => eraseDriver(dartsDriver({ lr: 3e-2, order: 2 })), epochs: 2, lr: 0.05 },
  // Hard samples reach the best path for both keys only 1 time in 9 at first: more epochs, a faster arch step.
  { name: 'gdas', driver: () => eraseDriver(gdasDriver({ lr: 0.1, tauMax: 5, tauMin: 0.5 })), epochs: 8, lr: 0.05 },
  { name: 'enas', driver: () => eraseDriver(enasDriver({ learningRate: 0.02, baselineDecay: 0.9, samplesPerStep: 5 }, { controllerSamples: 30 })), epochs: 6, lr: 0.05 },
  { name: 'spos', driver: () => eraseDriver(sposDriver({ generations: 3, population: 4, topK: 2, mutations: 2, crossovers: 2 }, { recalibrationBatches: 4 })), epochs: 4, lr: 0.05 },
  { name: 'proxyless (one path)', driver: () => eraseDriver(proxylessDriver({ lr: 3e-2 })), epochs: 3, lr: 0.05 },
  { name: 'proxyless (two paths, with a cost term)', driver: () => eraseDriver(proxylessDriver({ lr: 0.1, paths: 2, costWeight: 0.01 }, { warmup: 1 })), epochs: 8, lr: 0.05 },
  { name: 'proxyless (latency cost measured on the device)', driver: () => eraseDriver(proxylessDriver({ lr: 3e-2, costWeight: 1e-3 }, { cost: 'latency' })), epochs: 3, lr: 0.05 },
];

await describeGpu('one-shot search on a space with a clearly best candidate', (gpu) => {
  for (const a of algorithms) {
    it(`${a.name} picks skip for both keys`, async () => {
      const r = right(await oneShotSearch(graph, { gpu, driver: a.driver(), train, valid, epochs: a.epochs, batchSize: 16, seed: 1, ...(a.lr === undefined ? {} : { lr: a.lr }) }));
      expect(r.arch).toEqual(BEST);
      expect(E.isRight(apply(graph, r.arch))).toBe(true);
      expect(r.history.length).toBeGreaterThanOrEqual(a.epochs);
      const last = r.history[r.history.length - 1]!;
      // With the shared weights, the derived architecture is far above chance (0.25).
      expect(last.metrics['validAccuracy']).toBeGreaterThan(0.5);
      for (const key of ['op1', 'op2']) {
        const p = last.distribution[key]!;
        expect(p.length).toBeGreaterThanOrEqual(2);
        expect(p[1]).toBe(Math.max(...p));
      }
    });
  }

  it('candidate costs: MACs exactly as counted on the fixed subnets, latencies measured per candidate', async () => {
    const space = searchSpace(graph);
    const macs = (arch: Record<string, readonly number[]>): number => {
      const f = apply(graph, arch);
      if (E.isLeft(f)) throw new Error('apply');
      return countMacs(f.right);
    };
    const c = candidateCosts({ space, macs });
    // none and skip add no multiply-accumulates: the stem and the head are all there is.
    expect(c).toEqual({ op1: [0, 0], op2: [0, 0] });
    const netR = Supernet.create(graph, { gpu, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.1 }, seed: 1 });
    if (E.isLeft(netR)) throw new Error(netR.left[0]!.message);
    try {
      const lat = await candidateLatencies({ space, net: netR.right, valid, batchSize: 16 }, 3);
      if (E.isLeft(lat)) throw new Error(lat.left[0]!.message);
      expect(Object.keys(lat.right).sort()).toEqual(['op1', 'op2']);
      for (const row of Object.values(lat.right)) {
        expect(row).toHaveLength(2);
        for (const x of row) expect(Number.isFinite(x)).toBe(true);
      }
    } finally {
      netR.right.destroy();
    }
  });

  it('p-darts drops the weaker candidate after stage 1 and exports skip in the original indices', async () => {
    const r = right(await pdartsSearch(graph, { gpu, train, valid, batchSize: 16, seed: 1, lr: 0.05, epochsPerStage: 2, options: { lr: 3e-2, stages: 2, addLayers: [0, 0], drop: [1, 0] } }));
    expect(r.arch).toEqual(BEST);
    expect(r.stages.map((s) => s.kept)).toEqual([{ op1: [0, 1], op2: [0, 1] }, { op1: [1], op2: [1] }]);
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    expect(r.history.map((h) => h.metrics['stage'])).toEqual([1, 1, 2, 2]);
    for (const h of r.history.slice(2)) expect(h.arch).toEqual(BEST);
  });

  // An interrupt in the middle of an epoch (the signal aborted from inside a step) lets the epoch finish: the search
  // stops at an epoch boundary, and resumed it is bit for bit the uninterrupted search (architecture, history,
  // weights). Before, the drivers left the epoch at the next step and the partial epoch was checkpointed as whole.
  const interrupted: readonly { readonly name: string; readonly driver: () => AnyDriver; readonly graph: typeof graph; readonly epochs: number; readonly stopAt: { epoch: number; step: number } | { candidate: number } }[] = [
    { name: 'darts', driver: () => eraseDriver(dartsDriver({ lr: 3e-2 })), graph, epochs: 3, stopAt: { epoch: 2, step: 3 } },
    { name: 'enas', driver: () => eraseDriver(enasDriver({ learningRate: 0.02 }, { controllerSamples: 4 })), graph, epochs: 2, stopAt: { epoch: 1, step: 2 } },
    { name: 'spos (in an epoch)', driver: () => eraseDriver(sposDriver({ generations: 3, population: 4, topK: 2, mutations: 2, crossovers: 2 }, { recalibrationBatches: 2 })), graph: wideGraph, epochs: 2, stopAt: { epoch: 2, step: 2 } },
    { name: 'spos (in its evolution)', driver: () => eraseDriver(sposDriver({ generations: 3, population: 4, topK: 2, mutations: 2, crossovers: 2 }, { recalibrationBatches: 2 })), graph: wideGraph, epochs: 1, stopAt: { candidate: 2 } },
  ];
  for (const c of interrupted) {
    it(`${c.name}: interrupted mid-way and resumed = uninterrupted, bit for bit`, async () => {
      const base = { gpu, train, valid, epochs: c.epochs, batchSize: 16, seed: 3, lr: 0.05 };
      const full = right(await oneShotSearch(c.graph, { ...base, driver: c.driver(), dir: tempDir() }));
      const dir = tempDir();
      const controller = new AbortController();
      let epoch = 0;
      const stopAt = c.stopAt;
      const progress = {
        ...silentProgress,
        epochStart: (e: number) => {
          epoch = e;
        },
        step: (done: number) => {
          if ('epoch' in stopAt && epoch === stopAt.epoch && done === stopAt.step) controller.abort();
        },
        phaseStep: (done: number) => {
          if ('candidate' in stopAt && done === stopAt.candidate) controller.abort();
        },
      };
      const first = right(await oneShotSearch(c.graph, { ...base, driver: c.driver(), dir, signal: controller.signal, progress }));
      expect(controller.signal.aborted).toBe(true);
      expect(first.aborted).toBe(true);
      // The epoch in progress was finished, recorded and checkpointed; the evolution reports nothing yet.
      expect(first.history.map((h) => h.epoch)).toEqual('epoch' in stopAt ? Array.from({ length: stopAt.epoch }, (_, i) => i + 1) : [1]);
      const resumed = right(await oneShotSearch(c.graph, { ...base, driver: c.driver(), dir, resume: true }));
      expect(resumed.aborted).toBe(false);
      expect(resumed.arch).toEqual(full.arch);
      const timeless = (h: readonly HistoryEntry[]) => h.map((e) => ({ ...e, metrics: { ...e.metrics, seconds: 0 } }));
      expect(timeless(resumed.history)).toEqual(timeless(full.history));
      expect([...resumed.params.keys()]).toEqual([...full.params.keys()]);
      for (const [path, v] of full.params) expect(resumed.params.get(path), path).toEqual(v);
    });
  }

  it('a search whose loss explodes but stays finite stops with a Diverged error (no architecture from noise)', async () => {
    const dir = tempDir();
    const r = await oneShotSearch(wideGraph, { gpu, driver: eraseDriver(dartsDriver({ lr: 3e-2 })), train, valid, epochs: 3, batchSize: 16, seed: 1, lr: 100, dir });
    if (E.isRight(r)) throw new Error(`expected divergence; losses ${r.right.history.map((h) => h.metrics['trainLoss']).join(', ')}`);
    expect(r.left.map((e) => e.tag)).toEqual(['Diverged']);
    expect(r.left[0]!.message).toMatch(/^darts: diverged: the mean training loss of epoch 1 \(.+\) is more than 10× the first step's loss/);
    // The diverged epoch is not checkpointed.
    expect(existsSync(join(dir, 'supernet.safetensors'))).toBe(false);
  });

  it('a resumed search ends where an uninterrupted one does; history.json is written', async () => {
    const whole = tempDir();
    const full = right(await oneShotSearch(graph, { gpu, driver: eraseDriver(dartsDriver({ lr: 3e-2 })), train, valid, epochs: 2, batchSize: 16, seed: 2, dir: whole }));
    const parts = tempDir();
    const controller = new AbortController();
    const first = right(
      await oneShotSearch(graph, {
        gpu,
        driver: eraseDriver(dartsDriver({ lr: 3e-2 })),
        train,
        valid,
        epochs: 2,
        batchSize: 16,
        seed: 2,
        dir: parts,
        signal: controller.signal,
        onEpoch: () => controller.abort(),
      }),
    );
    expect(first.aborted).toBe(true);
    expect(first.history).toHaveLength(1);
    const resumed = right(await oneShotSearch(graph, { gpu, driver: eraseDriver(dartsDriver({ lr: 3e-2 })), train, valid, epochs: 2, batchSize: 16, seed: 2, dir: parts, resume: true }));
    expect(resumed.history).toEqual(full.history.map((h) => ({ ...h, metrics: { ...h.metrics, seconds: expect.any(Number) } })));
    for (const [path, v] of full.params) expect(resumed.params.get(path), path).toEqual(v);
    const hist = JSON.parse(readFileSync(join(parts, 'history.json'), 'utf8')) as { epoch: number }[];
    expect(hist.map((h) => h.epoch)).toEqual([1, 2]);
    // Another algorithm's options are refused on resume.
    const other = await oneShotSearch(graph, { gpu, driver: eraseDriver(dartsDriver({ lr: 1e-2 })), train, valid, epochs: 3, batchSize: 16, seed: 2, dir: parts, resume: true });
    expect(E.isLeft(other) && other.left.map((e) => e.message).join('\n')).toMatch(/other darts options/);
  });
});
