/**
 * The FBNet driver on the device: a large latency weight drives the search to the cheapest candidate of every
 * layer, against what accuracy alone would pick. On clear-best.ts only `skip` passes the image on (accuracy picks
 * skip for both keys); with a latency table where `none` costs 10 µs and `skip` 1,000 µs and β = 4, the derived
 * architecture is (none, none) — and with the table reversed it is (skip, skip), so the table, not the order of the
 * candidates, decides; with β = 0 (no latency term) the same search picks (skip, skip). The expected latency recorded in the history falls as θ moves.
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect, it } from 'vitest';
import { eraseDriver } from '../../../src/runtime/oneshot/driver.ts';
import { fbnetDriver } from '../../../src/runtime/oneshot/fbnet-driver.ts';
import { oneShotSearch } from '../../../src/runtime/oneshot/search.ts';
import { describeGpu } from '../../gpu.ts';
import { clearBestData, clearBestGraph } from './clear-best.ts';

const graph = clearBestGraph();
const { train, valid } = clearBestData();

const run = async (gpu: Parameters<Parameters<typeof describeGpu>[1]>[0], none: number, skip: number, beta = 4) => {
  const lookup = { op1: [none, skip], op2: [none, skip] };
  const driver = eraseDriver(fbnetDriver({ lr: 0.1, beta }, { lookup }));
  const r = await oneShotSearch(graph, { gpu, driver, train, valid, epochs: 2, batchSize: 16, seed: 1, lr: 0.05 });
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

await describeGpu('fbnet driver', (gpu) => {
  it('a large latency weight (β = 4) picks the cheapest candidate of every layer', async () => {
    const cheapNone = await run(gpu, 10, 1000);
    expect(cheapNone.arch).toEqual({ op1: [0], op2: [0] });
    const first = cheapNone.history[0]!.metrics['expectedLatencyUs']!;
    const last = cheapNone.history.at(-1)!.metrics['expectedLatencyUs']!;
    // Two keys at 10 or 1,000 µs: 1,010 µs at uniform θ; it must have fallen, and the derived one costs 20 µs.
    expect(last).toBeLessThan(first);
    expect(last).toBeLessThan(1010);
    expect(cheapNone.history.at(-1)!.metrics['derivedLatencyUs']).toBe(20);

    const cheapSkip = await run(gpu, 1000, 10);
    expect(cheapSkip.arch).toEqual({ op1: [1], op2: [1] });

    // Without the latency term (β = 0: the factor log(LAT)^0 is 1) the same search follows accuracy: skip.
    const accuracyOnly = await run(gpu, 10, 1000, 0);
    expect(accuracyOnly.arch).toEqual({ op1: [1], op2: [1] });
  });
});
