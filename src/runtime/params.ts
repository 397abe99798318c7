/**
 * Parameter stores: the values of a graph's parameters (weights and BatchNorm running statistics), by path.
 *
 * A store is an immutable map `path → Float32Array` (row-major, the parameter's shape). Paths are the same in a
 * supernet and in any fixed graph `apply` derives from it, so one store serves both.
 *
 * `initParams` draws every parameter from its own stream, seeded by the caller's RNG and the parameter's PATH
 * (not its position), so a parameter gets the same initial value whatever else the graph contains: initialising
 * a supernet and then applying an architecture gives the same weights as initialising the fixed graph.
 *
 * @example
 * const [store, rng2] = initParams(graph, seedRng(0));
 * store.get('conv1/weight'); // Float32Array of 32·1·3·3 values in ±1/√9
 */
import { hash3, siteId } from '../ir/counter-rng.ts';
import { type Graph, params } from '../ir/graph.ts';
import type { Init } from '../ir/ops.ts';
import { type Rng, nextFloat, nextNormal, nextU32, seedRng } from '../ir/rng.ts';
import { type Shape, numel, showShape } from '../ir/shape.ts';

export type ParamStore = ReadonlyMap<string, Float32Array>;

export interface ParamSpec {
  readonly path: string;
  readonly shape: Shape;
  readonly init: Init;
  /** False for buffers (BatchNorm running statistics): not trained, but saved and loaded. */
  readonly trainable: boolean;
}

export type ParamError =
  | { readonly tag: 'MissingParam'; readonly path: string; readonly message: string }
  | { readonly tag: 'ParamSize'; readonly path: string; readonly expected: number; readonly got: number; readonly message: string };

/** The parameters reachable from the graph's outputs, each path once, in topological order. */
export const paramSpecs = (g: Graph): readonly ParamSpec[] => {
  const seen = new Set<string>();
  const out: ParamSpec[] = [];
  for (const n of params(g)) {
    if (n.op.kind !== 'param' || seen.has(n.op.path)) continue;
    seen.add(n.op.path);
    out.push({ path: n.op.path, shape: n.op.shape, init: n.op.init, trainable: n.op.trainable });
  }
  return out;
};

/** Every parameter's shape by path. */
export const paramShapes = (g: Graph): ReadonlyMap<string, Shape> => new Map(paramSpecs(g).map((p) => [p.path, p.shape]));

/** `n` values drawn by `init` from `rng` (PyTorch's schemes: uniform(±bound), normal(0, std), ones, zeros). */
export const sampleInit = (init: Init, n: number, rng: Rng): [Float32Array, Rng] => {
  const out = new Float32Array(n);
  let r = rng;
  switch (init.kind) {
    case 'uniform':
      for (let i = 0; i < n; i++) {
        const [u, next] = nextFloat(r);
        out[i] = (2 * u - 1) * init.bound;
        r = next;
      }
      return [out, r];
    case 'normal':
      for (let i = 0; i < n; i++) {
        const [z, next] = nextNormal(r);
        out[i] = z * init.std;
        r = next;
      }
      return [out, r];
    case 'ones':
      return [out.fill(1), r];
    case 'zeros':
      return [out, r];
    default: {
      const never: never = init;
      throw new Error(`unknown init ${JSON.stringify(never)}`);
    }
  }
};

/**
 * Initial values of every parameter of `g` by its init scheme. Deterministic: the same graph and RNG give the
 * same store; one u32 is drawn from `rng`, and each parameter's values come from a stream keyed by its path.
 */
export const initParams = (g: Graph, rng: Rng): [ParamStore, Rng] => {
  const [base, next] = nextU32(rng);
  const store = new Map<string, Float32Array>();
  for (const p of paramSpecs(g)) {
    const [values] = sampleInit(p.init, numel(p.shape), seedRng(hash3(base, siteId(p.path), 0x70617261 /* "para" */)));
    store.set(p.path, values);
  }
  return [store, next];
};

/** Every parameter of `g` that `store` lacks or holds with the wrong number of values. */
export const checkParams = (g: Graph, store: ParamStore): readonly ParamError[] => {
  const errors: ParamError[] = [];
  for (const p of paramSpecs(g)) {
    const v = store.get(p.path);
    const want = numel(p.shape);
    if (v === undefined) {
      errors.push({ tag: 'MissingParam', path: p.path, message: `parameter '${p.path}' ${showShape(p.shape)} is missing from the store` });
    } else if (v.length !== want) {
      errors.push({
        tag: 'ParamSize',
        path: p.path,
        expected: want,
        got: v.length,
        message: `parameter '${p.path}' should have ${want} values (shape ${showShape(p.shape)}), the store has ${v.length}`,
      });
    }
  }
  return errors;
};
