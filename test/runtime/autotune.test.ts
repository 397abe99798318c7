/**
 * Autotuning: shape keys, candidate lists, and (on the GPU) a timed search that returns one of its candidates,
 * writes the per-adapter cache, answers the next call from it, keeps shapes apart, and reports a corrupt cache
 * file by name. Shapes are tiny: the point is the plumbing, not the timings.
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Conv2dOptions } from '../../src/compile/kernels/conv2d.ts';
import { type TileConfig, tileCandidates, tileProblems } from '../../src/compile/kernels/tiles.ts';
import { cacheFileFor, conv2dTuneKey, matmulTuneKey, tuneConv2d, tuneMatmul } from '../../src/runtime/autotune.ts';
import { describeGpu } from '../gpu.ts';

const dir = mkdtempSync(join(os.tmpdir(), 'nasgraph-autotune-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const conv: Conv2dOptions = {
  label: 'tiny', batch: 2, cin: 3, h: 8, w: 8, cout: 5, kh: 3, kw: 3, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1,
};
const T = (rows: number, cols: number, wgX: number, wgY: number): TileConfig => ({ rows, cols, wgX, wgY, shared: false, kTile: 16 });
const candidates = [T(4, 8, 4, 2), T(2, 4, 4, 4), T(1, 4, 8, 1)];

it('keys shapes by every attribute of the inner loops, not by label or epilogue', () => {
  const k = conv2dTuneKey(conv);
  expect(conv2dTuneKey({ ...conv, label: 'other', epilogue: { bias: true, activation: 'relu', residual: true } })).toBe(k);
  const variants: Conv2dOptions[] = [
    { ...conv, batch: 3 }, { ...conv, cin: 4 }, { ...conv, h: 9 }, { ...conv, w: 9 }, { ...conv, cout: 6 }, { ...conv, kh: 1 },
    { ...conv, kw: 1 }, { ...conv, stride: [2, 1] }, { ...conv, padding: [0, 1] }, { ...conv, dilation: [1, 2] },
    { ...conv, cin: 6, cout: 6, groups: 3 },
  ];
  const keys = new Set([k, ...variants.map(conv2dTuneKey)]);
  expect(keys.size).toBe(variants.length + 1);
  const mm = { label: 'm', M: 4, N: 8, K: 16 };
  expect(new Set([mm, { ...mm, M: 5 }, { ...mm, transB: true }, { ...mm, batch: 2 }, { ...mm, batch: 2, batchB: false }].map(matmulTuneKey)).size).toBe(5);
});

it('offers valid candidates, the default tile first, and a file-name-safe cache file per adapter', () => {
  for (const kind of ['software', 'gpu'] as const) for (const kernel of ['conv2d', 'matmul'] as const) {
    const c = tileCandidates(kind, kernel);
    expect(c.length).toBeGreaterThan(1);
    for (const tile of c) expect(tileProblems(tile)).toEqual([]);
  }
  const f = cacheFileFor('/tmp/x', 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)');
  expect(f).toBe('/tmp/x/autotune-llvmpipe-Mesa-25.0.7-LLVM-15.0.6.json');
  expect(cacheFileFor('/tmp/x', 'NVIDIA H100')).not.toBe(f);
});

await describeGpu('autotune on the device', (gpu) => {
  it('times the candidates, caches the winner per adapter, answers from the cache, keeps shapes apart', async () => {
    const first = await tuneConv2d(gpu, conv, { cacheDir: dir, candidates, rounds: 2 });
    if (E.isLeft(first)) throw new Error(first.left.map((e) => e.message).join('\n'));
    expect(first.right.source).toBe('measured');
    expect(candidates).toContainEqual(first.right.tile);
    expect(first.right.tried.map((c) => c.tile)).toEqual(candidates);
    for (const c of first.right.tried) expect(c.ms).toBeGreaterThan(0);
    expect(first.right.ms).toBe(Math.min(...first.right.tried.map((c) => c.ms)));
    const file = cacheFileFor(dir, gpu.adapterInfo.name);
    expect(readdirSync(dir)).toContain(file.slice(dir.length + 1));
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { adapter: string; entries: Record<string, { tile: TileConfig }> };
    expect(onDisk.adapter).toBe(gpu.adapterInfo.name);
    expect(onDisk.entries[conv2dTuneKey(conv)]?.tile).toEqual(first.right.tile);

    // From the cache: same tile, no timing (candidates are not even consulted: an empty list would be an error).
    const again = await tuneConv2d(gpu, { ...conv, label: 'renamed' }, { cacheDir: dir, candidates: [T(16, 16, 16, 16)] });
    expect(E.isRight(again) && again.right.source).toBe('cache');
    expect(E.isRight(again) && again.right.tile).toEqual(first.right.tile);

    // Another shape is tuned separately and both stay in the file.
    const mm = await tuneMatmul(gpu, { label: 'mm', M: 8, N: 12, K: 20 }, { cacheDir: dir, candidates, rounds: 1 });
    expect(E.isRight(mm) && mm.right.source).toBe('measured');
    const both = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(both.entries).sort()).toEqual([conv2dTuneKey(conv), matmulTuneKey({ label: 'mm', M: 8, N: 12, K: 20 })].sort());

    // retune times again.
    const re = await tuneConv2d(gpu, conv, { cacheDir: dir, candidates: candidates.slice(0, 2), rounds: 1, retune: true });
    expect(E.isRight(re) && re.right.source).toBe('measured');
  }, 120_000);

  it('the direct depthwise kernel is not timed; a corrupt cache file is an error naming the file', async () => {
    const dw = await tuneConv2d(gpu, { ...conv, cin: 4, cout: 4, groups: 4, algorithm: 'direct' }, { cacheDir: null, candidates });
    expect(E.isRight(dw) && dw.right.source).toBe('fixed');
    const bad = mkdtempSync(join(dir, 'bad-'));
    const file = cacheFileFor(bad, gpu.adapterInfo.name);
    for (const text of ['{ not json', JSON.stringify({ version: 1, adapter: 'a', entries: { k: { tile: T(99, 3, 1, 1), ms: 1, tried: [], at: '' } } })]) {
      writeFileSync(file, text);
      const r = await tuneConv2d(gpu, conv, { cacheDir: bad, candidates });
      expect(E.isLeft(r) && r.left[0]?.tag).toBe('CacheUnreadable');
      expect(E.isLeft(r) && r.left[0]?.message).toContain(file);
    }
    const none = await tuneConv2d(gpu, conv, { cacheDir: null, candidates: [T(0, 4, 1, 1)] });
    expect(E.isLeft(none) && none.left[0]?.tag).toBe('TuneFailed');
  }, 120_000);
});
