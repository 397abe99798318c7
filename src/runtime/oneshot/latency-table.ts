/**
 * FBNet's latency lookup table, measured on the device: for every candidate of every layer choice, the time of
 * that candidate ALONE at its input shape (microseconds per batch). A candidate's sub-graph is cut out of the
 * model — the nodes only it computes, its inputs (what all candidates of the choice share, usually the choice's
 * input) replaced by fresh graph inputs of the same shapes — compiled in fixed (inference) mode and timed:
 * `iters` runs are submitted back to back without reading anything back, then the queue is waited on, and the
 * per-run time of a graph that only copies the same inputs is subtracted (uploads and submit overhead). Median of
 * `repeats` such rounds. A key shared by several choices sums its sites.
 *
 * Measurements are cached per adapter in `<cache dir>/latency-table-<adapter>.json` (io-ts decoded; default
 * directory $NASGRAPH_CACHE_DIR, else $XDG_CACHE_HOME/nasgraph, else ~/.cache/nasgraph), keyed by the candidate
 * sub-graph's structural hash and the batch, so a second search or `nasgraph latency` of the same model on the same
 * adapter measures nothing. A table written by `nasgraph latency -o FILE` is read back with `readLatencyTable`.
 *
 * @example
 * const t = await measureLatencyTable(gpu, graph, { model: 'fbnet', batch: 32 });
 * if (E.isRight(t)) t.right.layers['b1'].latency; // [µs of candidate 0, µs of candidate 1, ...]
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { adapterKind } from '../../compile/kernels/tiles.ts';
import { lower } from '../../compile/lower.ts';
import type { Graph } from '../../ir/graph.ts';
import { identity, input } from '../../ir/layers.ts';
import { type Node, rewrite, topoOrder, withInputs } from '../../ir/node.ts';
import { isChoice } from '../../ir/ops.ts';
import { type Rng, nextFloat, seedRng } from '../../ir/rng.ts';
import { type Shape, numel, showShape } from '../../ir/shape.ts';
import { type SearchSpace, searchSpace } from '../../ir/space.ts';
import { makeCtx } from '../../ir/ctx.ts';
import { type LatencyLookup, latencyLookupErrors } from '../../search/oneshot/fbnet.ts';
import { defaultCacheDir } from '../autotune.ts';
import type { Gpu } from '../device.ts';
import { Executable } from '../execute.ts';
import { initParams } from '../params.ts';

const rowCodec = t.readonly(t.type({ candidates: t.readonlyArray(t.string), inputShape: t.readonlyArray(t.number), latency: t.readonlyArray(t.number) }));

/** The table file: `nasgraph latency -o FILE` writes it, `--strategy-options '{"latencyTable":FILE}'` reads it. */
export const latencyTableCodec = t.readonly(
  t.type({
    format: t.literal('nasgraph-latency/1'),
    model: t.string,
    adapter: t.string,
    batch: t.number,
    unit: t.literal('us'),
    layers: t.record(t.string, rowCodec),
  }),
);

/** A latency table (plain JSON). */
export type LatencyTable = t.TypeOf<typeof latencyTableCodec>;

const cacheCodec = t.readonly(t.type({ version: t.literal(1), adapter: t.string, entries: t.record(t.string, t.number) }));

/** The per-adapter cache file in `dir`. */
export const latencyCacheFile = (dir: string, adapterName: string): string =>
  join(dir, `latency-table-${adapterName.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-|-$/g, '').slice(0, 80) || 'adapter'}.json`);

/** The per-key latencies of a table, as FBNet's loss reads them. */
export const lookupOf = (table: LatencyTable): LatencyLookup => Object.fromEntries(Object.entries(table.layers).map(([k, r]) => [k, r.latency] as const));

/**
 * A table decoded from JSON and checked against `space` (every layer key present, one latency per candidate, the
 * candidates' names equal): every problem, each naming the file and the key or field.
 */
export const decodeLatencyTable = (json: unknown, space: SearchSpace, what = 'latency table'): E.Either<readonly string[], LatencyTable> => {
  const d = latencyTableCodec.decode(json);
  if (E.isLeft(d)) {
    const fields = [...new Set(d.left.map((e) => e.context.map((c) => c.key).filter((k) => k !== '').join('.')))];
    return E.left(fields.map((f) => `${what}: field '${f}' is missing or has the wrong type`));
  }
  const problems: string[] = [...latencyLookupErrors(space, lookupOf(d.right)).map((m) => `${what}: ${m}`)];
  for (const dec of space.decisions) {
    const row = d.right.layers[dec.key];
    if (dec.kind === 'layer' && row !== undefined && row.candidates.join('\u0000') !== dec.names.join('\u0000')) {
      problems.push(`${what}: the row for '${dec.key}' names the candidates [${row.candidates.join(', ')}], the model's are [${dec.names.join(', ')}]`);
    }
  }
  return problems.length > 0 ? E.left(problems) : E.right(d.right);
};

/** Reads a table file (`nasgraph latency -o`) for `space`; every problem named, no exception. */
export const readLatencyTable = (file: string, space: SearchSpace): E.Either<readonly string[], LatencyTable> => {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return E.left([`${file}: ${e instanceof SyntaxError ? `not JSON (${e.message})` : 'cannot be read'}`]);
  }
  return decodeLatencyTable(json, space, file);
};

/** Writes `text` to `file` atomically (a unique temporary file, then a rename). */
const writeAtomic = (file: string, text: string): void => {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
};

/** Writes a table file. */
export const writeLatencyTable = (file: string, table: LatencyTable): void => writeAtomic(file, `${JSON.stringify(latencyTableCodec.encode(table), null, 2)}\n`);

/** One candidate cut out of the model. */
export interface CandidateGraph {
  readonly key: string;
  readonly candidate: string;
  /** The choice node's name (module path). */
  readonly site: string;
  /** The candidate alone: fresh inputs in place of what the choice's candidates share; null when it computes nothing of its own. */
  readonly graph: Graph | null;
  readonly inputShapes: readonly Shape[];
}

/**
 * Every candidate of every layer choice of `graph` as a graph of its own (see the module comment). A candidate
 * that contains a choice is an error naming it (the table needs flat layer choices); so is a layer choice with a
 * single candidate nested nowhere (nothing to compare: it is skipped).
 */
export const candidateGraphs = (graph: Graph): E.Either<readonly string[], readonly CandidateGraph[]> => {
  const problems: string[] = [];
  const out: CandidateGraph[] = [];
  for (const n of topoOrder(graph.outputs)) {
    if (n.op.kind !== 'layerChoice') continue;
    const { key, names } = n.op;
    const anc = n.inputs.map((c) => new Set(topoOrder([c]).map((x) => x.id)));
    // What every candidate reaches is shared (the choice's input and what is upstream of it); with one
    // candidate, the shared part is what the choice's own input reaches: approximated by nothing but params.
    const shared = anc.length < 2 ? new Set<string>() : new Set([...anc[0]!].filter((id) => anc.every((s) => s.has(id))));
    n.inputs.forEach((c, i) => {
      const own = topoOrder([c]).filter((x) => !shared.has(x.id));
      const name = names[i]!;
      const nested = own.find((x) => isChoice(x.op));
      if (nested !== undefined && isChoice(nested.op)) {
        problems.push(`candidate '${name}' of layer choice '${key}' contains the choice '${nested.op.key}': the latency table needs flat layer choices`);
        return;
      }
      if (own.length === 0) {
        out.push({ key, candidate: name, site: n.name, graph: null, inputShapes: [] });
        return;
      }
      const ownIds = new Set(own.map((x) => x.id));
      const boundary: Node[] = [];
      for (const x of own) {
        for (const y of x.inputs) if (!ownIds.has(y.id) && y.op.kind !== 'param' && !boundary.some((b) => b.id === y.id)) boundary.push(y);
      }
      const fresh = new Map(boundary.map((b, j) => [b.id, input(b.shape, `in${j}`)] as const));
      const rebuilt = rewrite([c], (node, inputs) => fresh.get(node.id) ?? withInputs(node, inputs)).roots;
      out.push({ key, candidate: name, site: n.name, graph: { inputs: [...fresh.values()], outputs: rebuilt }, inputShapes: boundary.map((b) => b.shape) });
    });
  }
  return problems.length > 0 ? E.left(problems) : E.right(out);
};

/** Options of `measureLatencyTable`. */
export interface LatencyOptions {
  /** The model's name (recorded in the table). */
  readonly model: string;
  /** Samples per run (the search's batch size). */
  readonly batch: number;
  /** The cache directory; null: no cache. Default: `defaultCacheDir()`. */
  readonly cacheDir?: string | null;
  /** Timed rounds per candidate (median), default 5. */
  readonly repeats?: number;
  /** Measure again even when cached (the new figures replace the cached ones). */
  readonly fresh?: boolean;
  /** Progress lines (one per measured candidate). */
  readonly note?: (line: string) => void;
}

const randomInputs = (shapes: readonly Shape[], batch: number, rng: Rng): readonly Float32Array[] => {
  let r = rng;
  return shapes.map((s) => {
    const a = new Float32Array(batch * numel(s));
    for (let i = 0; i < a.length; i++) {
      const [u, next] = nextFloat(r);
      a[i] = 2 * u - 1;
      r = next;
    }
    return a;
  });
};

/** Median microseconds per run of `g` at `batch` (see the module comment), or why it could not run. */
export const timeGraph = async (gpu: Gpu, g: Graph, batch: number, repeats = 5): Promise<E.Either<string, number>> => {
  const program = lower(g, { mode: 'fixed', batch, adapter: adapterKind(gpu.adapterInfo) });
  if (E.isLeft(program)) return E.left(program.left.map((e) => e.message).join('; '));
  const [params, rng] = initParams(g, seedRng(1));
  const inputs = randomInputs(program.right.inputs.map((i) => i.shape), batch, rng);
  const exe = await Executable.instantiate(gpu, program.right, params);
  if (E.isLeft(exe)) return E.left(exe.left.map((e) => e.message).join('; '));
  try {
    const runs = async (n: number): Promise<E.Either<string, number>> => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = await exe.right.run({ inputs, readback: [] });
        if (E.isLeft(r)) return E.left(r.left.map((e) => e.message).join('; '));
      }
      const done = await gpu.raceLost('timing a candidate', gpu.device.queue.onSubmittedWorkDone());
      if (E.isLeft(done)) return E.left(done.left.message);
      return E.right((performance.now() - t0) / n);
    };
    // Warm-up: the first runs compile the pipelines.
    const warm = await exe.right.run({ inputs });
    if (E.isLeft(warm)) return E.left(warm.left.map((e) => e.message).join('; '));
    const first = await runs(1);
    if (E.isLeft(first)) return first;
    // Enough runs per round for about 20 ms, between 1 and 50.
    const iters = Math.max(1, Math.min(50, Math.ceil(20 / Math.max(first.right, 1e-3))));
    const ms: number[] = [];
    for (let r = 0; r < Math.max(1, repeats); r++) {
      const x = await runs(iters);
      if (E.isLeft(x)) return x;
      ms.push(x.right);
    }
    ms.sort((a, b) => a - b);
    return E.right(ms[ms.length >> 1]! * 1000);
  } finally {
    exe.right.destroy();
  }
};

/** The graph that only copies inputs of `shapes` (the baseline subtracted from a candidate's time). */
const copyGraph = (shapes: readonly Shape[]): Graph => {
  const ins = shapes.map((s, j) => input(s, `in${j}`));
  return { inputs: ins, outputs: ins.map((x, j) => identity()(makeCtx([`copy${j}`]), x)) };
};

const readCache = (file: string, adapter: string): Record<string, number> => {
  try {
    const d = cacheCodec.decode(JSON.parse(readFileSync(file, 'utf8')));
    return E.isRight(d) && d.right.adapter === adapter ? { ...d.right.entries } : {};
  } catch {
    return {};
  }
};

/**
 * Measures (or reads from the cache) the latency of every candidate of every layer choice of `graph` on `gpu`:
 * the table, or every reason it could not be made.
 */
export const measureLatencyTable = async (gpu: Gpu, graph: Graph, o: LatencyOptions): Promise<E.Either<readonly string[], LatencyTable>> => {
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) return E.left([`the batch must be a positive integer, got ${o.batch}`]);
  const cands = candidateGraphs(graph);
  if (E.isLeft(cands)) return cands;
  const adapter = gpu.adapterInfo.name;
  const dir = o.cacheDir === undefined ? defaultCacheDir() : o.cacheDir;
  const file = dir === null ? null : latencyCacheFile(dir, adapter);
  const cache = file === null ? {} : readCache(file, adapter);
  const measured: Record<string, number> = {};
  const baselines = new Map<string, number>();
  const space = searchSpace(graph);
  const layers: Record<string, { candidates: readonly string[]; inputShape: readonly number[]; latency: number[] }> = {};
  for (const d of space.decisions) if (d.kind === 'layer') layers[d.key] = { candidates: d.names, inputShape: [], latency: d.names.map(() => 0) };
  for (const c of cands.right) {
    const row = layers[c.key];
    if (row === undefined) continue;
    const i = row.candidates.indexOf(c.candidate);
    if (c.inputShapes[0] !== undefined && row.inputShape.length === 0) row.inputShape = c.inputShapes[0];
    if (c.graph === null) continue;
    const id = `${c.graph.outputs[0]!.id}@${o.batch}`;
    let us = o.fresh === true ? undefined : cache[id];
    if (us === undefined) {
      const shapesKey = c.inputShapes.map(showShape).join(' ');
      let base = baselines.get(shapesKey);
      if (base === undefined) {
        const b = await timeGraph(gpu, copyGraph(c.inputShapes), o.batch, o.repeats);
        base = E.isRight(b) ? b.right : 0;
        baselines.set(shapesKey, base);
      }
      const x = await timeGraph(gpu, c.graph, o.batch, o.repeats);
      if (E.isLeft(x)) return E.left([`measuring candidate '${c.candidate}' of '${c.key}' at ${c.site}: ${x.left}`]);
      us = Math.max(0, x.right - base);
      measured[id] = us;
      o.note?.(`${c.key} ${c.candidate} at ${c.inputShapes.map(showShape).join(', ')}: ${us.toFixed(1)} µs per batch of ${o.batch}`);
    }
    if (i >= 0) row.latency[i] = (row.latency[i] ?? 0) + us;
  }
  if (file !== null && Object.keys(measured).length > 0) {
    const now = readCache(file, adapter); // merge with what other processes wrote meanwhile
    writeAtomic(file, `${JSON.stringify({ version: 1, adapter, entries: { ...now, ...measured } }, null, 1)}\n`);
  }
  return E.right({ format: 'nasgraph-latency/1', model: o.model, adapter, batch: o.batch, unit: 'us', layers });
};
