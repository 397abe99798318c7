/**
 * The device layer under a training loop's load: every step's error scopes race the device-loss signal, and
 * that race must not retain anything per call (it used to hang a reaction, about 2 KB, on the never-settling loss
 * promise each time).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as E from 'fp-ts/lib/Either.js';
import { expect, it } from 'vitest';
import { describeGpu } from '../gpu.ts';

// A real full GC (vitest does not pass --expose-gc).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

await describeGpu('device races under load', (gpu) => {
  it('withErrorScope and raceLost keep the heap flat over 3,000 calls', async () => {
    const call = async (i: number): Promise<void> => {
      const r = await gpu.withErrorScope(`call ${i}`, () => i);
      if (E.isLeft(r)) throw new Error(r.left.message);
      const s = await gpu.raceLost(`race ${i}`, Promise.resolve(i));
      if (E.isLeft(s) || s.right !== i) throw new Error('raceLost lost the value');
    };
    const heap = (): number => {
      gc();
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    for (let i = 0; i < 300; i++) await call(i);
    const before = heap();
    for (let i = 0; i < 3000; i++) await call(i);
    // 3,000 calls make 9,000 races: a leak of 2 KB per race is 18 MB; allow 1 MB of noise.
    expect(heap() - before).toBeLessThan(2 ** 20);
  });
});
