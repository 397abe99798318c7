/**
 * THE CORE LAW of the compiler: for a random supernet g and a valid architecture a, with the same parameters
 * (by path) and the same inputs,
 *   run(lower(apply(g, a), fixed)) == run(lower(g, sampled), select a) == run(lower(g, mixed), onehot(a)) == reference(g, a)
 * within |d| ≤ 1e-4·(1 + |ref|) (f32 kernels vs the f64 reference; the paths sum in different orders, e.g. an
 * input choice's mean is add-then-scale in the fixed graph and Σw·x / Σw in the supernet).
 *
 * Also: switching architectures in sampled mode creates no pipeline.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { lower } from '../../src/compile/lower.ts';
import { type Architecture, apply } from '../../src/ir/index.ts';
import { Executable } from '../../src/runtime/execute.ts';
import { pipelineCacheFor } from '../../src/runtime/pipeline-cache.ts';
import { arbSupernet, arbValidArchitecture } from '../ir/arbitraries.ts';
import { describeGpu } from '../gpu.ts';
import { expectClose, randomInputs, randomParams, reference, runOnGpu } from './execute-harness.ts';

const onehot = (counts: ReadonlyMap<string, number>, a: Architecture): Record<string, number[]> =>
  Object.fromEntries([...counts].map(([key, n]) => [key, Array.from({ length: n }, (_, i) => ((a[key] ?? []).includes(i) ? 1 : 0))]));

await describeGpu('the core law', (gpu) => {
  it('fixed == sampled == mixed(one-hot) == reference, on random supernets and architectures', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbSupernet.chain((net) => fc.tuple(fc.constant(net), arbValidArchitecture(net.space), fc.integer({ min: 1, max: 2 }), fc.integer())),
        async ([net, arch, batch, seed]) => {
          const fixed = apply(net.graph, arch);
          fc.pre(E.isRight(fixed));
          if (E.isLeft(fixed)) return;
          const params = randomParams(net.graph, seed);
          const inputs = randomInputs(net.graph, batch, seed);
          const counts = new Map(net.space.decisions.map((d) => [d.key, d.names.length] as const));
          const ref = reference(net.graph, batch, params, inputs, { kind: 'select', arch });
          const f = await runOnGpu(gpu, fixed.right, { mode: 'fixed', batch }, params, inputs);
          const s = await runOnGpu(gpu, net.graph, { mode: 'sampled', batch }, params, inputs, { kind: 'select', arch });
          const m = await runOnGpu(gpu, net.graph, { mode: 'mixed', batch }, params, inputs, { kind: 'mix', weights: onehot(counts, arch) });
          ref.forEach((r, i) => {
            expectClose(f[i]!, r, `fixed output ${i}`);
            expectClose(s[i]!, r, `sampled output ${i}`);
            expectClose(m[i]!, r, `mixed output ${i}`);
          });
        },
      ),
      { numRuns: 20 },
    );
  }, 900_000);

  it('switching architectures in sampled mode creates no pipeline, and each run matches the reference', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbSupernet
          .filter((n) => n.space.size > 1n)
          .chain((net) => fc.tuple(fc.constant(net), fc.array(arbValidArchitecture(net.space), { minLength: 3, maxLength: 5 }), fc.integer())),
        async ([net, archs, seed]) => {
          const prog = lower(net.graph, { mode: 'sampled', batch: 1 });
          if (E.isLeft(prog)) throw new Error(prog.left.map((e) => e.message).join('; '));
          const params = randomParams(net.graph, seed);
          const inputs = randomInputs(net.graph, 1, seed);
          const exe = await Executable.instantiate(gpu, prog.right, params);
          if (E.isLeft(exe)) throw new Error(exe.left.map((e) => e.message).join('; '));
          const cache = pipelineCacheFor(gpu.device);
          const before = cache.creations;
          try {
            for (const arch of archs) {
              const out = await exe.right.run({ inputs, choice: { kind: 'select', arch } });
              if (E.isLeft(out)) throw new Error(out.left.map((e) => e.message).join('; '));
              const ref = reference(net.graph, 1, params, inputs, { kind: 'select', arch });
              ref.forEach((r, i) => expectClose(out.right[i]!, r, `arch ${JSON.stringify(arch)} output ${i}`));
            }
            expect(cache.creations).toBe(before);
          } finally {
            exe.right.destroy();
          }
        },
      ),
      { numRuns: 6 },
    );
  }, 900_000);
});
