/**
 * One-shot search end to end on the device: on a space where one candidate per key is clearly best (clear-best.ts),
 * every algorithm's derived architecture picks it within a small budget; the history has one entry per epoch; a
 * search interrupted after its first epoch and resumed from its checkpoint ends exactly where an uninterrupted one
 * does; a space an algorithm cannot search is refused naming the key.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

const graph = clearBestGraph();
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
