/**
 * Tile autotuning: a small timed search over `TileConfig` candidates for one kernel shape on the current adapter,
 * cached on disk per adapter.
 *
 * Why: the best register block depends on the adapter and on the shape (on lavapipe, a conv over 16-wide rows
 * runs best with 4×16 blocks, one over 24-wide rows with 4×8, by 20–30 %), and the generators take the tile as a
 * parameter (`tile?` of `Conv2dOptions` / `MatmulOptions`, and the lowering's tile). Kernel tuning is a search
 * problem too, but a tiny one: a handful of candidates, each timed a few times, interleaved round by round so
 * that load from other processes hits every candidate alike; the median of each decides.
 *
 * Cache: one JSON file per adapter (`autotune-<adapter slug>.json` in the cache directory), keyed by the
 * kernel's shape class (see {@link conv2dTuneKey}, {@link matmulTuneKey}). Files are decoded with io-ts; a
 * corrupt file is an error naming it (delete it to re-tune). Writes go through a temporary file and a rename.
 *
 * @example
 * const r = await tuneConv2d(gpu, { label: 'c', batch: 64, cin: 64, h: 16, w: 16, cout: 64, kh: 3, kw: 3,
 *   stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 });
 * if (E.isRight(r)) conv2dKernel({ ...o, tile: r.right.tile });
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Kernel } from '../compile/kernel.ts';
import { type Conv2dOptions, conv2dAlgorithm, conv2dKernel, conv2dOutputSize } from '../compile/kernels/conv2d.ts';
import { type MatmulOptions, matmulKernel } from '../compile/kernels/matmul.ts';
import { type TileConfig, type TunableKernel, adapterKind, tileCandidates, tileProblems } from '../compile/kernels/tiles.ts';
import type { Gpu } from './device.ts';
import { pipelineCacheFor } from './pipeline-cache.ts';

/** What can go wrong: the cache file cannot be read or decoded or written, or a candidate failed on the device. */
export type AutotuneError =
  | { readonly tag: 'CacheUnreadable'; readonly file: string; readonly message: string }
  | { readonly tag: 'CacheUnwritable'; readonly file: string; readonly message: string }
  | { readonly tag: 'TuneFailed'; readonly key: string; readonly message: string };

/** One timed candidate: median milliseconds per dispatch. */
export interface TunedCandidate {
  readonly tile: TileConfig;
  readonly ms: number;
}

/** The outcome for one shape: the fastest tile, its time, every candidate's time, and where it came from. */
export interface TuneResult {
  readonly key: string;
  readonly tile: TileConfig;
  readonly ms: number;
  readonly tried: readonly TunedCandidate[];
  /** 'cache': read from the cache file; 'measured': timed now; 'fixed': the kernel ignores tiles (conv 'direct'). */
  readonly source: 'cache' | 'measured' | 'fixed';
}

export interface AutotuneOptions {
  /**
   * Where the per-adapter cache files live; null disables the cache. Default: $NASGRAPH_CACHE_DIR, else
   * $XDG_CACHE_HOME/nasgraph, else ~/.cache/nasgraph.
   */
  readonly cacheDir?: string | null;
  /** Tiles to try. Default: `tileCandidates(adapterKind(adapter), kernel)`. */
  readonly candidates?: readonly TileConfig[];
  /** Timed rounds over all candidates (default 3; each round times every candidate once). */
  readonly rounds?: number;
  /** Time again even when the cache has the shape (the new result replaces the cached one). */
  readonly retune?: boolean;
}

const tileCodec = t.readonly(
  t.type({ rows: t.number, cols: t.number, wgX: t.number, wgY: t.number, shared: t.boolean, kTile: t.number }),
);
const entryCodec = t.readonly(
  t.type({ tile: tileCodec, ms: t.number, tried: t.readonlyArray(t.readonly(t.type({ tile: tileCodec, ms: t.number }))), at: t.string }),
);
const cacheCodec = t.readonly(t.type({ version: t.literal(1), adapter: t.string, entries: t.record(t.string, entryCodec) }));
type CacheFile = t.TypeOf<typeof cacheCodec>;
type CacheEntry = t.TypeOf<typeof entryCodec>;

/** The default cache directory (see {@link AutotuneOptions.cacheDir}). */
export const defaultCacheDir = (): string =>
  process.env['NASGRAPH_CACHE_DIR'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(os.homedir(), '.cache'), 'nasgraph');

/**
 * The cache file of an adapter: its name reduced to a file-name-safe slug.
 *
 * @example
 * cacheFileFor('/tmp/c', 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)') // '/tmp/c/autotune-llvmpipe-Mesa-25.0.7-LLVM-15.0.6.json'
 */
export const cacheFileFor = (dir: string, adapterName: string): string =>
  join(dir, `autotune-${adapterName.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-|-$/g, '').slice(0, 80) || 'adapter'}.json`);

/**
 * The shape class of a convolution: every attribute that changes its kernel's inner loops (not the label, not
 * the epilogue, which only touches the store).
 *
 * @example
 * conv2dTuneKey(o) // 'conv2d window b64 64x16x16 -> 64 k3x3 s1x1 p1x1 d1x1 g1'
 */
export const conv2dTuneKey = (o: Conv2dOptions): string =>
  `conv2d ${conv2dAlgorithm(o)} b${o.batch} ${o.cin}x${o.h}x${o.w} -> ${o.cout} k${o.kh}x${o.kw}` +
  ` s${o.stride.join('x')} p${o.padding.join('x')} d${o.dilation.join('x')} g${o.groups}`;

/** The shape class of a matmul (see {@link conv2dTuneKey}). */
export const matmulTuneKey = (o: MatmulOptions): string =>
  `matmul M${o.M} N${o.N} K${o.K} b${o.batch ?? 1}${o.batchB === false ? ' sharedB' : ''}${o.transA === true ? ' transA' : ''}${o.transB === true ? ' transB' : ''}`;

const readCache = (file: string, adapter: string): E.Either<AutotuneError, CacheFile> => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return E.right({ version: 1, adapter, entries: {} });
    return E.left({ tag: 'CacheUnreadable', file, message: `autotune cache ${file}: ${(e as Error).message}` });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left({ tag: 'CacheUnreadable', file, message: `autotune cache ${file} is not JSON (${(e as Error).message}); delete it to re-tune` });
  }
  const decoded = cacheCodec.decode(json);
  if (E.isLeft(decoded)) {
    return E.left({ tag: 'CacheUnreadable', file, message: `autotune cache ${file} has an unexpected layout; delete it to re-tune` });
  }
  const bad = Object.entries(decoded.right.entries).find(([, v]) => tileProblems(v.tile).length > 0);
  if (bad !== undefined) {
    return E.left({ tag: 'CacheUnreadable', file, message: `autotune cache ${file}: entry '${bad[0]}' has an invalid tile (${tileProblems(bad[1].tile).join('; ')})` });
  }
  return E.right(decoded.right);
};

const writeCache = (dir: string, file: string, cache: CacheFile): E.Either<AutotuneError, void> => {
  try {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(cache, null, 1)}\n`);
    renameSync(tmp, file);
    return E.right(undefined);
  } catch (e) {
    return E.left({ tag: 'CacheUnwritable', file, message: `autotune cache ${file}: ${(e as Error).message}` });
  }
};

/** Deterministic values in [-1, 1): the timings need data, not statistics. */
const fill = (n: number, seed: number): Float32Array => {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
};

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Times every distinct kernel (candidates whose fitted tiles give the same WGSL are timed once): buffers shared
 * by all, one warm-up dispatch each (the pipeline compiles there), then `rounds` rounds of one fenced dispatch
 * per kernel.
 */
const timeCandidates = async (
  gpu: Gpu,
  key: string,
  built: readonly { readonly tile: TileConfig; readonly kernel: Kernel }[],
  inputElems: readonly number[],
  outElems: number,
  rounds: number,
): Promise<E.Either<AutotuneError, readonly TunedCandidate[]>> => {
  const device = gpu.device;
  const bySource = new Map<string, Kernel>();
  for (const b of built) if (!bySource.has(b.kernel.wgsl)) bySource.set(b.kernel.wgsl, b.kernel);
  const kernels = [...bySource.values()];
  const buffers: GPUBuffer[] = [];
  const r = await gpu.withErrorScope(`autotune ${key}`, async () => {
    const bytes = (n: number): number => Math.max(16, Math.ceil((n * 4) / 16) * 16);
    inputElems.forEach((n, i) => {
      const b = device.createBuffer({ size: bytes(n), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      const v = fill(n, i + 1);
      device.queue.writeBuffer(b, 0, v.buffer, v.byteOffset, v.byteLength);
      buffers.push(b);
    });
    buffers.push(device.createBuffer({ size: bytes(outElems), usage: GPUBufferUsage.STORAGE }));
    const cache = pipelineCacheFor(device);
    const runs = kernels.map((k) => {
      const { pipeline, layout } = cache.get(k);
      const bind = device.createBindGroup({ layout, entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      return async (): Promise<number> => {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(...k.workgroups);
        pass.end();
        const t0 = performance.now();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      };
    });
    for (const run of runs) await run();
    const times = runs.map((): number[] => []);
    for (let round = 0; round < rounds; round++) for (const [i, run] of runs.entries()) times[i]!.push(await run());
    return new Map(kernels.map((k, i) => [k.wgsl, median(times[i]!)]));
  });
  for (const b of buffers) b.destroy();
  if (E.isLeft(r)) return E.left({ tag: 'TuneFailed', key, message: `autotune ${key}: ${r.left.message}` });
  return E.right(built.map((b) => ({ tile: b.tile, ms: r.right.get(b.kernel.wgsl)! })));
};

const tune = async (
  gpu: Gpu,
  kernel: TunableKernel,
  key: string,
  build: (tile: TileConfig) => Kernel,
  inputElems: readonly number[],
  outElems: number,
  o: AutotuneOptions,
): Promise<E.Either<readonly AutotuneError[], TuneResult>> => {
  const candidates = o.candidates ?? tileCandidates(adapterKind(gpu.adapterInfo), kernel);
  const invalid = candidates.flatMap((c, i) => tileProblems(c).map((p) => `candidate ${i}: ${p}`));
  if (candidates.length === 0 || invalid.length > 0) {
    return E.left([{ tag: 'TuneFailed', key, message: `autotune ${key}: ${candidates.length === 0 ? 'no candidate tiles' : invalid.join('; ')}` }]);
  }
  const dir = o.cacheDir === undefined ? defaultCacheDir() : o.cacheDir;
  const adapter = gpu.adapterInfo.name;
  const file = dir === null ? undefined : cacheFileFor(dir, adapter);
  const cached = file === undefined ? E.right<AutotuneError, CacheFile>({ version: 1, adapter, entries: {} }) : readCache(file, adapter);
  if (E.isLeft(cached)) return E.left([cached.left]);
  const hit: CacheEntry | undefined = cached.right.entries[key];
  if (hit !== undefined && o.retune !== true) return E.right({ key, tile: hit.tile, ms: hit.ms, tried: hit.tried, source: 'cache' });
  const timed = await timeCandidates(gpu, key, candidates.map((tile) => ({ tile, kernel: build(tile) })), inputElems, outElems, Math.max(1, o.rounds ?? 3));
  if (E.isLeft(timed)) return E.left([timed.left]);
  // Ties (candidates fitted to the same kernel) go to the earlier candidate: the list starts with the default.
  const best = timed.right.reduce((a, b) => (b.ms < a.ms ? b : a));
  const result: TuneResult = { key, tile: best.tile, ms: best.ms, tried: timed.right, source: 'measured' };
  if (dir !== null && file !== undefined) {
    // Re-read just before writing: another process may have added shapes meanwhile.
    const latest = readCache(file, adapter);
    const base = E.isRight(latest) ? latest.right : cached.right;
    const entry: CacheEntry = { tile: best.tile, ms: best.ms, tried: timed.right, at: new Date().toISOString() };
    const w = writeCache(dir, file, { version: 1, adapter, entries: { ...base.entries, [key]: entry } });
    if (E.isLeft(w)) return E.left([w.left]);
  }
  return E.right(result);
};

/**
 * The fastest tile for a convolution on `gpu`'s adapter, from the cache or timed now (and cached). The timing
 * uses the shape without its epilogue. The 'direct' depthwise kernel ignores tiles: its result is the first
 * candidate, source 'fixed', untimed.
 *
 * @example
 * const r = await tuneConv2d(gpu, o, { cacheDir: '/tmp/nasgraph-cache' });
 * // E.right({ key: 'conv2d window b64 …', tile: { rows: 4, cols: 16, … }, ms: 212, tried: [...], source: 'measured' })
 */
export const tuneConv2d = async (gpu: Gpu, o: Conv2dOptions, opts: AutotuneOptions = {}): Promise<E.Either<readonly AutotuneError[], TuneResult>> => {
  const key = conv2dTuneKey(o);
  if (conv2dAlgorithm(o) === 'direct') {
    const first = (opts.candidates ?? tileCandidates(adapterKind(gpu.adapterInfo), 'conv2d'))[0];
    if (first === undefined) return E.left([{ tag: 'TuneFailed', key, message: `autotune ${key}: no candidate tiles` }]);
    return E.right({ key, tile: first, ms: 0, tried: [], source: 'fixed' });
  }
  const [oh, ow] = conv2dOutputSize(o);
  const { epilogue: _dropped, ...plain } = o;
  return tune(
    gpu,
    'conv2d',
    key,
    (tile) => conv2dKernel({ ...plain, label: `autotune ${o.label}`, tile }),
    [o.batch * o.cin * o.h * o.w, o.cout * (o.cin / o.groups) * o.kh * o.kw],
    o.batch * o.cout * oh * ow,
    opts,
  );
};

/**
 * The fastest tile for a matmul on `gpu`'s adapter (see {@link tuneConv2d}).
 *
 * @example
 * const r = await tuneMatmul(gpu, { label: 'fc', M: 64, N: 10, K: 128, transB: true });
 */
export const tuneMatmul = async (gpu: Gpu, o: MatmulOptions, opts: AutotuneOptions = {}): Promise<E.Either<readonly AutotuneError[], TuneResult>> => {
  const batch = o.batch ?? 1;
  const { epilogue: _dropped, ...plain } = o;
  return tune(
    gpu,
    'matmul',
    matmulTuneKey(o),
    (tile) => matmulKernel({ ...plain, label: `autotune ${o.label}`, tile }),
    [batch * o.M * o.K, (o.batchB === false ? 1 : batch) * o.K * o.N],
    batch * o.M * o.N,
    opts,
  );
};
