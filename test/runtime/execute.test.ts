/**
 * The executor's contract: errors for bad inputs, parameters and choices (each naming what is wrong), NaN
 * propagation, GPU errors labelled with the kernel or dispatch, flat memory over 1,000 runs, and destroy.
 */
import * as E from 'fp-ts/lib/Either.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { lower } from '../../src/compile/lower.ts';
import type { Program } from '../../src/compile/program.ts';
import {
  type Graph,
  type Layer,
  block,
  add,
  buildModel,
  conv2d,
  defineModel,
  flatten,
  inputChoice,
  layerChoice,
  linear,
  maxPool2d,
  relu,
  sequential,
  identity,
} from '../../src/ir/index.ts';
import { Executable } from '../../src/runtime/execute.ts';
import { describeGpu } from '../gpu.ts';
import { expectClose, randomInputs, randomParams, reference } from './execute-harness.ts';

// A real full GC for the memory test (vitest does not pass --expose-gc).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const build = (layer: Layer, input: readonly number[] = [2, 4, 4]): Graph => {
  const g = buildModel(defineModel({ name: 't', input, layer }));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

const program = (g: Graph, mode: 'fixed' | 'mixed' | 'sampled', batch: number): Program => {
  const p = lower(g, { mode, batch });
  if (E.isLeft(p)) throw new Error(p.left.map((e) => e.message).join('; '));
  return p.right;
};

const cnn = build(sequential({ c: conv2d({ out: 3, kernel: 3, padding: 1 }), r: relu(), p: maxPool2d({ kernel: 2 }), f: flatten(), l: linear({ out: 2 }) }));

const supernet = build(
  block((ctx, x) => {
    const y = ctx.call('op', layerChoice({ conv: conv2d({ out: 2, kernel: 3, padding: 1 }), skip: identity() }), x);
    const z = add(y, ctx.call('pick', inputChoice({ nChosen: null }), [ctx.call('a', relu(), x), y]));
    return ctx.call('head', sequential({ f: flatten(), l: linear({ out: 2 }) }), z);
  }),
);

await describeGpu('executor', (gpu) => {
  const instantiate = async (p: Program, params: ReadonlyMap<string, Float32Array>): Promise<Executable> => {
    const exe = await Executable.instantiate(gpu, p, params);
    if (E.isLeft(exe)) throw new Error(exe.left.map((e) => e.message).join('; '));
    return exe.right;
  };

  it('reports a missing and a mis-sized parameter by path, before allocating', async () => {
    const params = new Map(randomParams(cnn, 1));
    params.delete('c/weight');
    params.set('l/bias', new Float32Array(5));
    const r = await Executable.instantiate(gpu, program(cnn, 'fixed', 1), params);
    expect(E.isLeft(r)).toBe(true);
    if (E.isLeft(r)) {
      expect(r.left.map((e) => e.tag).sort()).toEqual(['MissingParam', 'ParamSize']);
      expect(r.left.map((e) => e.message).join('\n')).toMatch(/'c\/weight'[\s\S]*'l\/bias'|'l\/bias'[\s\S]*'c\/weight'/);
    }
  });

  it('reports a wrong input size (naming the batch), a missing and an unknown input', async () => {
    const exe = await instantiate(program(cnn, 'fixed', 2), randomParams(cnn, 1));
    try {
      const wrongBatch = await exe.run({ inputs: [new Float32Array(3 * 32)] });
      expect(E.isLeft(wrongBatch) && wrongBatch.left[0]!.message).toMatch(/input 'x' needs batch 2 .* got 96 \(3 samples; the program was compiled for batch 2\)/);
      const named = await exe.run({ inputs: { y: new Float32Array(64) } });
      expect(E.isLeft(named) && named.left.map((e) => e.tag).sort()).toEqual(['MissingInput', 'MissingInput']);
      const count = await exe.run({ inputs: [] });
      expect(E.isLeft(count) && count.left.map((e) => e.tag).sort()).toEqual(['InputCount', 'MissingInput']);
      const ok = await exe.run({ inputs: { x: new Float32Array(64) } });
      expect(E.isRight(ok)).toBe(true);
    } finally {
      exe.destroy();
    }
  });

  it('reports unknown, missing and invalid choice values, naming the key', async () => {
    const params = randomParams(supernet, 2);
    const sampled = await instantiate(program(supernet, 'sampled', 1), params);
    const mixed = await instantiate(program(supernet, 'mixed', 1), params);
    const x = new Float32Array(32);
    try {
      const unknown = await sampled.run({ inputs: [x], choice: { kind: 'select', arch: { op: [0], pick: [], nope: [1] } } });
      expect(E.isLeft(unknown) && unknown.left.map((e) => e.message).join()).toContain("'nope'");
      const missing = await sampled.run({ inputs: [x], choice: { kind: 'select', arch: { op: [0] } } });
      expect(E.isLeft(missing) && missing.left.map((e) => [e.tag, e.message.includes("'pick'")])).toEqual([['MissingChoice', true]]);
      const bad = await sampled.run({ inputs: [x], choice: { kind: 'select', arch: { op: [0, 1], pick: [5] } } });
      expect(E.isLeft(bad) && bad.left.map((e) => e.tag)).toEqual(['BadChoiceValue', 'BadChoiceValue']);
      const weights = await sampled.run({ inputs: [x], choice: { kind: 'mix', weights: { op: [1, 0], pick: [1, 1] } } });
      expect(E.isLeft(weights) && weights.left.map((e) => e.tag)).toEqual(['ChoiceKindMismatch']);
      const wrongCount = await mixed.run({ inputs: [x], choice: { kind: 'mix', weights: { op: [1, 0, 0], pick: [1, NaN] } } });
      expect(E.isLeft(wrongCount) && wrongCount.left.map((e) => e.message.match(/'(\w+)'/)?.[1])).toEqual(['op', 'pick']);
      const none = await mixed.run({ inputs: [x] });
      expect(E.isLeft(none) && none.left.map((e) => e.tag)).toEqual(['MissingChoice', 'MissingChoice']);
    } finally {
      sampled.destroy();
      mixed.destroy();
    }
  });

  it('mixed mode with soft weights matches the reference (DARTS-style weighted sums)', async () => {
    const params = randomParams(supernet, 3);
    const inputs = randomInputs(supernet, 2, 3);
    const exe = await instantiate(program(supernet, 'mixed', 2), params);
    try {
      for (const weights of [{ op: [0.3, 0.7], pick: [0.25, -1.5] }, { op: [0, 1], pick: [0, 0] }, { op: [2, 0], pick: [1, 0] }]) {
        const out = await exe.run({ inputs, choice: { kind: 'mix', weights } });
        if (E.isLeft(out)) throw new Error(out.left.map((e) => e.message).join('; '));
        const ref = reference(supernet, 2, params, inputs, { kind: 'mix', weights });
        expectClose(out.right[0]!, ref[0]!, `weights ${JSON.stringify(weights)}`);
      }
    } finally {
      exe.destroy();
    }
  });

  it('propagates NaN inputs as NaN through conv, relu, pooling and linear (not garbage, not zero)', async () => {
    const params = randomParams(cnn, 4);
    const inputs = randomInputs(cnn, 1, 4);
    const x = inputs['x']!;
    x[5] = NaN; // channel 0, row 1, column 1: inside the first pooling window of every output channel
    const exe = await instantiate(program(cnn, 'fixed', 1), params);
    try {
      const out = await exe.run({ inputs });
      if (E.isLeft(out)) throw new Error(out.left.map((e) => e.message).join('; '));
      const ref = reference(cnn, 1, params, inputs);
      expect(Array.from(ref[0]!).every(Number.isNaN)).toBe(true);
      expectClose(out.right[0]!, ref[0]!, 'NaN run');
    } finally {
      exe.destroy();
    }
  });

  it('names the kernel in a shader compile error', async () => {
    const p = program(cnn, 'fixed', 1);
    const broken: Program = { ...p, kernels: p.kernels.map((k, i) => (i === 1 ? { ...k, label: 'maxPool2d at p', wgsl: `${k.wgsl}\nfn oops( {` } : k)) };
    const r = await Executable.instantiate(gpu, broken, randomParams(cnn, 1));
    expect(E.isLeft(r) && r.left[0]!.message).toMatch(/^compiling maxPool2d at p: WebGPU validation error/);
  });

  it('names the dispatch in a GPU validation error at run time', async () => {
    const p = program(cnn, 'fixed', 1);
    // Bind one buffer as both input and output of the pooling dispatch: invalid in a compute pass.
    const d = p.dispatches.findIndex((x) => x.label.startsWith('maxPool2d'));
    const disp = p.dispatches[d]!;
    const broken: Program = { ...p, dispatches: p.dispatches.map((x, i) => (i === d ? { ...disp, buffers: [disp.buffers[1]!, disp.buffers[1]!] } : x)) };
    const exe = await instantiate(broken, randomParams(cnn, 1));
    try {
      const r = await exe.run({ inputs: [new Float32Array(32)] });
      expect(E.isLeft(r)).toBe(true);
      if (E.isLeft(r)) expect(r.left[0]!.message).toContain('maxPool2d at p');
    } finally {
      exe.destroy();
    }
  });

  it('runs 1,000 times with flat memory, reads back only outputs, and fails cleanly after destroy', async () => {
    const p = program(supernet, 'sampled', 1);
    const exe = await instantiate(p, randomParams(supernet, 5));
    const inputs = randomInputs(supernet, 1, 5);
    const archs = [{ op: [0], pick: [] }, { op: [1], pick: [0, 1] }, { op: [0], pick: [1] }];
    const run = async (i: number): Promise<void> => {
      const r = await exe.run({ inputs, choice: { kind: 'select', arch: archs[i % archs.length]! } });
      if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
    };
    const measure = (): NodeJS.MemoryUsage => {
      gc();
      gc();
      return process.memoryUsage();
    };
    for (let i = 0; i < 200; i++) await run(i); // warm up allocators and caches
    const before = measure();
    for (let i = 0; i < 1000; i++) await run(i);
    const after = measure();
    // After a full GC, a per-run leak of any JS object (a GPU buffer wrapper, a mapped range, a promise chain)
    // would leave ≥ 1,000 of them: the JS heap plus external memory may grow by at most 1 MB of noise (a leak of 2 KB per run, measured
    // in the device layer's loss race, is 2 MB). RSS also
    // counts Dawn's and the allocator's retained pages (and other test files' work in parallel): a looser bound.
    expect(after.heapUsed + after.external - (before.heapUsed + before.external)).toBeLessThan(2 ** 20);
    expect(after.rss - before.rss).toBeLessThan(64 * 2 ** 20);
    exe.destroy();
    exe.destroy(); // idempotent
    const late = await exe.run({ inputs, choice: { kind: 'select', arch: archs[0]! } });
    expect(E.isLeft(late) && late.left[0]!.tag).toBe('Destroyed');
  }, 120_000);
});
