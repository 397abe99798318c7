/**
 * The CPU reference interpreter: evaluates a graph (fixed or with choices) in plain TypeScript with float64
 * accumulation. It is the oracle for every GPU kernel test and a fallback backend for tiny models.
 *
 * Values are batched NCHW arrays: a value of per-sample shape [C, H, W] is a flat Float64Array of batch·C·H·W,
 * batch first. Unbatched values (`node.batched === false`: parameters, parameter gradients, losses, choice
 * weights, constants) hold numel(shape) values; where one meets batched values elementwise (add, mul, concat,
 * weighted sums) it is repeated for every sample. Parameters come from a store by path (float32, or float64 for
 * finite differences). Evaluation is lazy: only what the outputs need under the choice semantics is computed (an
 * unchosen candidate, or one of weight 0 — in a choice node or in a `weightedSum` over `choiceWeights` — is never
 * evaluated, nor are its parameters required). Op semantics are PyTorch's: each op's rule is in the table of
 * ops.ts (over the kernels of dense.ts, pool.ts, norm.ts, pointwise.ts and grad-*.ts); choice.ts holds the choice
 * semantics. NaN propagates
 * through every op except `zero` (a constant).
 *
 * Training: graphs from `trainingGraph` say "train" with explicit ops (batchNorm2dTrain, dropoutTrain), so they
 * need no mode. The `mode: 'train'` option, which makes plain batchNorm2d and dropout behave as those ops, stays
 * for compatibility with forward-only callers.
 *
 * @example
 * const r = evaluate(graph, { batch: 2, inputs: { x }, params: store, mode: 'eval' });
 * if (E.isRight(r)) r.right.outputs[0]; // Float64Array of 2·10 logits
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Graph } from '../ir/graph.ts';
import { type Node, topoOrder } from '../ir/node.ts';
import { isChoice } from '../ir/ops.ts';
import { numel, showShape } from '../ir/shape.ts';
import type { ParamStore } from '../runtime/params.ts';
import { type ChoiceSemantics, type Resolved, resolveChoice, weightedSum } from './choice.ts';
import { NodeFailure, type RefError } from './errors.ts';
import { type RefEnv, type RefValue, isAbsent, refRule, tile } from './ops.ts';
import { concatRef, zeroRef } from './pointwise.ts';

export type { ChoiceSemantics } from './choice.ts';
export type { RefError } from './errors.ts';

/** Parameter values by path: a `ParamStore` (float32), or float64 arrays (finite differences need them). */
export type RefParams = ReadonlyMap<string, Float32Array | Float64Array>;

export interface EvaluateOptions {
  readonly batch: number;
  /** Batched inputs by input name (the graph's input nodes are named, 'x' by default). */
  readonly inputs: Readonly<Record<string, Float32Array | Float64Array>>;
  readonly params: RefParams;
  /**
   * 'train': plain batchNorm2d uses batch statistics (and updates running ones), plain dropout drops. Default
   * 'eval'. Training graphs do not need it: they use batchNorm2dTrain and dropoutTrain, which always train.
   */
  readonly mode?: 'eval' | 'train';
  /** Required when the graph has choice nodes. */
  readonly choices?: ChoiceSemantics;
  /** The run-time weights of each `choiceWeights` leaf (a mixed graph), by key: n values for a leaf of n. */
  readonly choiceWeights?: Readonly<Record<string, readonly number[]>>;
  /** The dropout seed of this step (counter RNG); 0 when omitted. */
  readonly seed?: number;
}

export interface Evaluation {
  /** One batched array per graph output. */
  readonly outputs: readonly Float64Array[];
  /** Every computed (present) value by node id, for inspecting intermediate results. */
  readonly values: ReadonlyMap<string, Float64Array>;
  /**
   * New running_mean / running_var of every BatchNorm trained (batchNorm2dTrain, or batchNorm2d in 'train' mode),
   * by parameter path; present in 'train' mode and whenever a batchNorm2dTrain was evaluated.
   */
  readonly updatedStats?: ParamStore;
}

type Value = RefValue;

/** What the outputs need: the nodes to evaluate, and each choice node's resolution. Collects all errors. */
const demand = (g: Graph, o: EvaluateOptions, errors: RefError[]): { needed: Set<string>; resolved: Map<string, Resolved> } => {
  const order = topoOrder(g.outputs);
  const needed = new Set(g.outputs.map((n) => n.id));
  const resolved = new Map<string, Resolved>();
  const reported = new Set<string>();
  const report = (id: string, e: RefError): void => {
    if (!reported.has(id)) errors.push(e);
    reported.add(id);
  };
  // Below a choice that cannot be resolved, nothing is known to be needed; its candidates are still explored
  // for further choice errors (not for parameters, which may legitimately be missing there).
  const explored = new Set<string>();
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    const op = n.op;
    if (!needed.has(n.id)) {
      if (!explored.has(n.id)) continue;
      if (isChoice(op)) {
        const r = resolveChoice(op, n.inputs.length, n.name, o.choices);
        if ('tag' in r) report(`choice:${op.key}:${r.message}`, r);
      }
      for (const x of n.inputs) explored.add(x.id);
      continue;
    }
    if (isChoice(op)) {
      const r = resolveChoice(op, n.inputs.length, n.name, o.choices);
      if ('tag' in r) {
        report(`choice:${op.key}:${r.message}`, r);
        for (const x of n.inputs) explored.add(x.id);
      } else {
        resolved.set(n.id, r);
        for (const k of r.indices) needed.add(n.inputs[k]!.id);
      }
      continue;
    }
    if (op.kind === 'choiceWeights') {
      const w = o.choiceWeights?.[op.key];
      if (w === undefined) {
        report(`weights:${op.key}`, { tag: 'MissingChoice', key: op.key, message: `the choice weights have no entry for key '${op.key}' (${op.n} values, needed at ${n.name}); pass choiceWeights` });
      } else if (w.length !== op.n) {
        report(`weights:${op.key}`, { tag: 'BadChoice', key: op.key, message: `choice weights for '${op.key}' have ${w.length} values, but ${n.name} needs ${op.n}` });
      }
    }
    if (op.kind === 'weightedSum') {
      // Over run-time weights that are known now, a candidate of weight 0 is not needed (mixed semantics).
      const w = n.inputs[0]!.op.kind === 'choiceWeights' ? o.choiceWeights?.[n.inputs[0]!.op.key] : undefined;
      if (w !== undefined && w.length === n.inputs.length - 1) {
        needed.add(n.inputs[0]!.id);
        n.inputs.slice(1).forEach((c, i) => {
          if (w[i] !== 0) needed.add(c.id);
        });
        continue;
      }
    }
    if (op.kind === 'param') {
      const v = o.params.get(op.path);
      const want = numel(op.shape);
      if (v === undefined) {
        report(`param:${op.path}`, { tag: 'MissingParam', path: op.path, message: `parameter '${op.path}' ${showShape(op.shape)} is missing from the store` });
      } else if (v.length !== want) {
        report(`param:${op.path}`, {
          tag: 'ParamSize',
          path: op.path,
          expected: want,
          got: v.length,
          message: `parameter '${op.path}' should have ${want} values (shape ${showShape(op.shape)}), the store has ${v.length}`,
        });
      }
    }
    for (const x of n.inputs) needed.add(x.id);
  }
  return { needed, resolved };
};

const checkInputs = (g: Graph, o: EvaluateOptions, errors: RefError[]): void => {
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) {
    errors.push({ tag: 'BadBatch', batch: o.batch, message: `batch must be a positive integer, got ${o.batch}` });
    return;
  }
  const inputNodes = new Map<string, Node>();
  for (const n of [...g.inputs, ...topoOrder(g.outputs)]) if (n.op.kind === 'input') inputNodes.set(n.op.name, n);
  for (const [name, n] of inputNodes) {
    const x = o.inputs[name];
    const want = o.batch * numel(n.shape);
    if (x === undefined) errors.push({ tag: 'MissingInput', name, message: `input '${name}' ${showShape(n.shape)} is missing` });
    else if (x.length !== want) {
      errors.push({
        tag: 'InputSize',
        name,
        expected: want,
        got: x.length,
        message: `input '${name}' should have batch ${o.batch} × ${showShape(n.shape)} = ${want} values, got ${x.length}`,
      });
    }
  }
  for (const name of Object.keys(o.inputs)) {
    if (!inputNodes.has(name)) errors.push({ tag: 'UnexpectedInput', name, message: `input '${name}' is not an input of the graph (inputs: ${[...inputNodes.keys()].join(', ')})` });
  }
};

/** The values computed so far, and how a node reads its inputs from them (parameters from the store). */
class Values {
  readonly values = new Map<string, Value>();
  readonly stats = new Map<string, Float32Array>();
  /** Whether a BatchNorm trained (set with its statistics): then updatedStats is reported whatever the mode. */
  trained = false;
  readonly #paramValues = new Map<string, Float64Array>();

  constructor(readonly o: EvaluateOptions) {}

  rowsOf(n: Node): number {
    return n.batched ? this.o.batch : 1;
  }

  /** A parameter read as a value (an unbatched input of an elementwise or gradient op). */
  paramValue(path: string): Float64Array {
    const seen = this.#paramValues.get(path);
    if (seen !== undefined) return seen;
    const v = Float64Array.from(this.o.params.get(path)!);
    this.#paramValues.set(path, v);
    return v;
  }

  /** The weights `user` reads from parameter `n` (a NodeFailure when `n` is computed). */
  param(n: Node, user: Node): ArrayLike<number> {
    if (n.op.kind !== 'param') {
      throw new NodeFailure({ tag: 'NotAParameter', node: user.name, message: `${user.name}: ${user.op.kind} reads its weights from ${n.name} (${n.op.kind}), which is not a parameter` });
    }
    return this.o.params.get(n.op.path)!;
  }

  /** The value of `n` as an input of `user`; an absent value is a NodeFailure (only add accepts one). */
  act(n: Node, user: Node): Float64Array {
    if (n.op.kind === 'param') return this.paramValue(n.op.path);
    const v = this.values.get(n.id);
    if (v === undefined) {
      throw new NodeFailure({ tag: 'NotAParameter', node: user.name, message: `${user.name}: ${user.op.kind} takes a parameter (${n.name}) as an activation` });
    }
    if (isAbsent(v)) {
      throw new NodeFailure({
        tag: 'AbsentValue',
        key: v.absent,
        consumer: user.name,
        message: `input choice '${v.absent}' chose nothing, but ${user.name} (${user.op.kind}) needs its value; only add() accepts an absent input`,
      });
    }
    return v;
  }

  /** The value of `n` as `user` consumes it: repeated per sample when `user` is batched and `n` is not. */
  operand(n: Node, user: Node): Float64Array {
    const v = this.act(n, user);
    return user.batched && !n.batched ? tile(v, this.o.batch) : v;
  }
}

/** A choice node under its resolution: see choice.ts for the semantics. */
const evalChoice = (vs: Values, n: Node, r: Resolved): Value => {
  const op = n.op;
  if (op.kind !== 'layerChoice' && op.kind !== 'inputChoice') throw new Error('not a choice');
  const batch = vs.o.batch;
  const mixing = vs.o.choices?.kind === 'mix';
  const terms = r.indices.map((i, j) => ({ v: vs.values.get(n.inputs[i]!.id)!, w: r.weights[j]! }));
  const scaled = (t: { readonly v: Value; readonly w: number }): Value => (isAbsent(t.v) || t.w === 1 ? t.v : t.v.map((x) => x * t.w));
  if (op.kind === 'inputChoice' && op.reduction === 'none') {
    // The input at this node's position among the chosen ones (absent passes through, as apply).
    const t = terms[op.position];
    if (t === undefined || isAbsent(t.v)) return mixing ? zeroRef(batch, n.shape) : { absent: op.key };
    return scaled(t);
  }
  // One chosen input: the input itself (absent included), as apply.
  if (terms.length === 1 && !(mixing && isAbsent(terms[0]!.v))) return scaled(terms[0]!);
  if (op.kind === 'inputChoice' && op.reduction === 'concat') {
    // act() rejects an absent input: concatenation needs every chosen value.
    const xs = terms.map((t, j) => ({ x: vs.act(n.inputs[r.indices[j]!]!, n), w: t.w }));
    return concatRef(xs.map(({ x, w }) => ({ data: w === 1 ? x : x.map((v) => v * w), shape: n.inputs[0]!.shape })), batch);
  }
  const present = terms.flatMap((t) => (isAbsent(t.v) ? [] : [{ x: t.v, w: t.w }]));
  if (present.length === 0) return mixing ? zeroRef(batch, n.shape) : { absent: op.key };
  const sum = weightedSum(present);
  if (op.kind === 'inputChoice' && op.reduction === 'mean') {
    const factor = 1 / terms.reduce((s, t) => s + t.w, 0);
    return sum.map((v) => v * factor);
  }
  return sum;
};

/** The value of node `n` by its op's reference rule (reference/ops.ts), its inputs read from `vs`. */
const evalNode = (vs: Values, n: Node, resolved: ReadonlyMap<string, Resolved>): Value => {
  const o = vs.o;
  const env: RefEnv = {
    batch: o.batch,
    mode: o.mode ?? 'eval',
    seed: o.seed ?? 0,
    graphInput: (name) => o.inputs[name]!,
    input: (i) => vs.act(n.inputs[i]!, n),
    operand: (i) => vs.operand(n.inputs[i]!, n),
    stored: (i) => vs.values.get(n.inputs[i]!.id),
    rows: (i) => vs.rowsOf(n.inputs[i]!),
    weight: (i) => vs.param(n.inputs[i]!, n),
    choice: () => evalChoice(vs, n, resolved.get(n.id)!),
    choiceWeights: (key) => o.choiceWeights![key]!,
    setStat: (path, v) => {
      vs.trained = true;
      vs.stats.set(path, Float32Array.from(v));
    },
  };
  return refRule(n.op)(n.op, n, env);
};

/** The graph's outputs (an absent one is an error), or every error found. */
const collectOutputs = (graph: Graph, vs: Values, errors: RefError[]): E.Either<readonly RefError[], Evaluation> => {
  const outputs: Float64Array[] = [];
  graph.outputs.forEach((n, i) => {
    const v = n.op.kind === 'param' ? vs.paramValue(n.op.path) : vs.values.get(n.id);
    if (v === undefined) return; // failed: already reported
    if (isAbsent(v)) errors.push({ tag: 'AbsentValue', key: v.absent, consumer: `output ${i}`, message: `input choice '${v.absent}' chose nothing, and its value is the model's output ${i}` });
    else outputs.push(v);
  });
  if (errors.length > 0) return E.left(errors);
  const present = new Map<string, Float64Array>();
  for (const [id, v] of vs.values) if (!isAbsent(v)) present.set(id, v);
  return E.right({ outputs, values: present, ...(vs.o.mode === 'train' || vs.trained ? { updatedStats: vs.stats } : {}) });
};

/**
 * Evaluates `graph`'s outputs. Errors (all collected): a bad batch, missing/unexpected/mis-sized inputs, missing
 * or mis-sized parameters (named by path), missing or invalid choices (named by key), an absent value flowing
 * into an op other than add, BatchNorm training on a single value per channel.
 */
export const evaluate = (graph: Graph, o: EvaluateOptions): E.Either<readonly RefError[], Evaluation> => {
  const errors: RefError[] = [];
  checkInputs(graph, o, errors);
  if (errors.some((e) => e.tag === 'BadBatch')) return E.left(errors);
  const { needed, resolved } = demand(graph, o, errors);
  if (errors.length > 0) return E.left(errors);
  const vs = new Values(o);
  const failed = new Set<string>();
  for (const n of topoOrder(graph.outputs)) {
    if (!needed.has(n.id) || n.op.kind === 'param') continue;
    if (n.inputs.some((i) => failed.has(i.id))) {
      failed.add(n.id);
      continue;
    }
    try {
      vs.values.set(n.id, evalNode(vs, n, resolved));
    } catch (e) {
      if (!(e instanceof NodeFailure)) throw e;
      errors.push(e.error);
      failed.add(n.id);
    }
  }
  return collectOutputs(graph, vs, errors);
};
