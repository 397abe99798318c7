/**
 * `lower(graph, { mode, batch })`: compiles a graph to a `Program` (pure data: buffers, WGSL kernels, an
 * ordered dispatch list), in one of three modes:
 * - `fixed`: a choice-free graph (after `apply`).
 * - `mixed`: every candidate computed; each choice combines its candidates with run-time weights read from a
 *   per-key buffer, so one program serves DARTS softmax weights, Gumbel samples and one-hot masks alike.
 * - `sampled`: one program for the whole supernet whose dispatches carry guards; the runtime records only those
 *   of the selected candidates. Every candidate of a layer choice writes the choice's own buffer (no copy) when
 *   it is used nowhere else; otherwise a guarded copy moves it there. Input choices read a 0/1 mask buffer.
 *
 * Views (flatten, reshape, identity, dropout — identity at inference) share their input's buffer.
 * BatchNorm runs in inference form. Elementwise ops fuse into their producer (see fuse.ts).
 *
 * @example
 * const prog = lower(graph, { mode: 'fixed', batch: 8 });
 * if (E.isRight(prog)) console.log(showProgram(prog.right));
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Graph } from '../ir/graph.ts';
import { type Node, topoOrder } from '../ir/node.ts';
import { numel, showShape } from '../ir/shape.ts';
import { planFusion } from './fuse.ts';
import type { Kernel } from './kernel.ts';
import { type AdapterKind, defaultTile } from './kernels/tiles.ts';
import { type Dnf, TRUE, andLit, layerKeysOf, nodeConditions, toGuard } from './lower-guards.ts';
import { type Emitter, emitCompute, emitCopy, emitWeighted, labelOf } from './lower-ops.ts';
import { emitTraining } from './lower-train-ops.ts';
import { type LogicalDispatch, type LogicalValue, type Schedule, planMemory } from './memory.ts';
import type { BufferRole, Guard, Mode, Program } from './program.ts';

export interface LowerOptions {
  readonly mode: Mode;
  /** Samples per run: a positive integer. */
  readonly batch: number;
  /** Picks GEMM tile shapes ('software' for lavapipe, the default; 'gpu' for real GPUs). */
  readonly adapter?: AdapterKind;
}

export type LowerError =
  | { readonly tag: 'InvalidBatch'; readonly batch: number; readonly message: string }
  | { readonly tag: 'ChoiceInFixedMode'; readonly key: string; readonly node: string; readonly message: string }
  | { readonly tag: 'AbsentValue'; readonly key: string; readonly node: string; readonly message: string }
  | { readonly tag: 'NoOutputs'; readonly message: string }
  /** An op this lowering has no kernel for (the training and gradient ops of `grad`/`trainingGraph`). */
  | { readonly tag: 'UnsupportedOp'; readonly op: string; readonly node: string; readonly message: string };

const VIEWS: ReadonlySet<string> = new Set(['flatten', 'reshape', 'identity', 'dropout']);

/** The forward (inference) vocabulary this lowering compiles. */
const FORWARD_OPS: ReadonlySet<string> = new Set([
  'input', 'param', 'conv2d', 'linear', 'batchNorm2d', 'relu', 'relu6', 'sigmoid', 'tanh', 'gelu', 'identity', 'scale', 'zero',
  'add', 'mul', 'concat', 'maxPool2d', 'avgPool2d', 'globalAvgPool', 'adaptiveAvgPool2d', 'flatten', 'reshape', 'dropout',
  'softmax', 'logSoftmax', 'layerChoice', 'inputChoice', 'absent',
]);

/** The training and gradient ops (ir/ops.ts, after `absent`): lowered only for `lowerTraining` (lower-train-ops.ts). */
const TRAINING_OPS: ReadonlySet<string> = new Set([
  'fill', 'choiceWeights', 'weightedSum', 'weightedScale', 'weightedSumGrad', 'batchNorm2dTrain', 'batchNorm2dGradInput',
  'batchNorm2dGradWeight', 'sumBatch', 'conv2dGradInput', 'conv2dGradWeight', 'linearGradInput', 'linearGradWeight', 'dropoutTrain',
  'activationGrad', 'maxPool2dGrad', 'avgPool2dGrad', 'adaptiveAvgPool2dGrad', 'globalAvgPoolGrad', 'sliceChannels', 'softmaxGrad',
  'logSoftmaxGrad', 'crossEntropy', 'crossEntropyGrad',
]);

const bytesOf = (n: number): number => Math.max(4, n * 4);

const checkGraph = (g: Graph, o: LowerOptions, order: readonly Node[], training: boolean): readonly LowerError[] => {
  const errors: LowerError[] = [];
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) {
    errors.push({ tag: 'InvalidBatch', batch: o.batch, message: `batch must be a positive integer, got ${o.batch}` });
  }
  if (g.outputs.length === 0) errors.push({ tag: 'NoOutputs', message: 'the graph has no outputs: nothing to compute' });
  const reported = new Set<string>();
  for (const n of order) {
    const op = n.op;
    if ((op.kind === 'layerChoice' || op.kind === 'inputChoice') && o.mode === 'fixed' && !reported.has(op.key)) {
      reported.add(op.key);
      errors.push({
        tag: 'ChoiceInFixedMode',
        key: op.key,
        node: n.name,
        message: `fixed mode needs a choice-free graph, but ${n.name} is a ${op.kind} with key '${op.key}': apply an architecture first, or lower in 'mixed' or 'sampled' mode`,
      });
    }
    if (!FORWARD_OPS.has(op.kind) && !(training && TRAINING_OPS.has(op.kind))) {
      errors.push({
        tag: 'UnsupportedOp',
        op: op.kind,
        node: n.name,
        message: training
          ? `${n.name}: ${op.kind} cannot be lowered in a training step`
          : `${n.name}: ${op.kind} has no kernel in the forward lowering (lower compiles inference graphs; lowerTraining compiles training steps)`,
      });
    }
    if (op.kind === 'absent') {
      errors.push({
        tag: 'AbsentValue',
        key: op.key,
        node: n.name,
        message: `${n.name}: input choice '${op.key}' chose nothing, and its absent value ${showShape(op.shape)} cannot be computed`,
      });
    }
  }
  return errors;
};

/**
 * The schedule of a graph: logical values and guarded dispatches before memory planning (exported for tests
 * of the memory plan; `lower` is this followed by `planMemory`).
 */
export const schedule = (g: Graph, o: LowerOptions): E.Either<readonly LowerError[], Schedule> => scheduleOf(g, o, false);

/**
 * The schedule of a graph that may hold training and gradient ops (`lowerTraining` plans its memory). Unbatched
 * values (`node.batched === false`) get buffers without the batch.
 */
export const trainingSchedule = (g: Graph, o: LowerOptions): E.Either<readonly LowerError[], Schedule> => scheduleOf(g, o, true);

const scheduleOf = (g: Graph, o: LowerOptions, training: boolean): E.Either<readonly LowerError[], Schedule> => {
  const order = topoOrder(g.outputs);
  const errors = checkGraph(g, o, order, training);
  if (errors.length > 0) return E.left(errors);
  const B = o.batch;
  const rowsOf = (n: Node): number => (n.batched ? B : 1);

  // Uses: occurrences among inputs, plus one per graph output (an output is never fused away or aliased).
  const uses = new Map<string, number>();
  const soleUser = new Map<string, Node>();
  for (const n of order) for (const x of n.inputs) {
    uses.set(x.id, (uses.get(x.id) ?? 0) + 1);
    soleUser.set(x.id, n);
  }
  for (const out of g.outputs) uses.set(out.id, (uses.get(out.id) ?? 0) + 1);

  const sampled = o.mode === 'sampled';
  const conds: ReadonlyMap<string, Dnf> = sampled ? nodeConditions(order, g.outputs) : new Map();
  const layerKeys = layerKeysOf(order);
  const guardOf = (n: Node): Guard | undefined => (sampled ? toGuard(conds.get(n.id) ?? TRUE) : undefined);
  const { chains, absorbed } = planFusion(order, uses, soleUser);

  const values: LogicalValue[] = [];
  const dispatches: LogicalDispatch[] = [];
  const newValue = (bytes: number, role: BufferRole, label: string, paramPath?: string): number => {
    values.push({ id: values.length, bytes, role, label, ...(paramPath === undefined ? {} : { paramPath }) });
    return values.length - 1;
  };
  const valueMap = new Map<string, number>();

  // Sampled mode: a candidate used only by its layer choice writes the choice's value directly. Users come
  // before inputs in reverse order, so a choice has its value before its candidates are considered.
  if (sampled) {
    for (let i = order.length - 1; i >= 0; i--) {
      const n = order[i]!;
      if (n.op.kind !== 'layerChoice') continue;
      let v = valueMap.get(n.id);
      if (v === undefined) {
        v = newValue(bytesOf(rowsOf(n) * numel(n.shape)), 'activation', `${n.op.key} at ${n.name}`);
        valueMap.set(n.id, v);
      }
      for (const c of n.inputs) {
        const producing = !VIEWS.has(c.op.kind) && c.op.kind !== 'input' && c.op.kind !== 'param';
        if (producing && uses.get(c.id) === 1 && !valueMap.has(c.id)) valueMap.set(c.id, v);
      }
    }
  }

  const weights = new Map<string, number>();
  const choices: Schedule['choices'][number][] = [];
  const weightsOf = (n: Node): number => {
    const op = n.op;
    if (op.kind !== 'layerChoice' && op.kind !== 'inputChoice' && op.kind !== 'choiceWeights') throw new Error('weightsOf: not a choice');
    let w = weights.get(op.key);
    if (w === undefined) {
      const count = op.kind === 'choiceWeights' ? op.n : n.inputs.length;
      w = newValue(bytesOf(count), 'choiceWeights', `weights of '${op.key}'`);
      weights.set(op.key, w);
      choices.push(
        op.kind === 'inputChoice'
          ? { key: op.key, kind: 'input', value: w, count, nChosen: op.nChosen }
          : { key: op.key, kind: 'layer', value: w, count },
      );
    }
    return w;
  };
  const scalars: NonNullable<Schedule['scalars']>[number][] = [];

  const inputs: Schedule['inputs'][number][] = [];
  const params: Schedule['params'][number][] = [];
  const paramByPath = new Map<string, number>();
  const valueOf = (n: Node): number => {
    const v = valueMap.get(n.id);
    if (v === undefined) throw new Error(`lower: ${n.op.kind} at ${n.name} used before it was computed`);
    return v;
  };
  const memo = new Map<string, number>();
  const emitter: Emitter = {
    batch: B,
    tile: defaultTile(o.adapter ?? 'software'),
    valueOf,
    rowsOf,
    memo,
    scalar: (name, type) => {
      const seen = scalars.find((x) => x.name === name);
      if (seen !== undefined) return seen.value;
      const v = newValue(4, 'scalar', `scalar '${name}'`);
      scalars.push({ name, value: v, type });
      return v;
    },
    scratch: (bytes, label) => newValue(bytes, 'scratch', label),
    dispatch: (kernel: Kernel, vs, label, group) => {
      dispatches.push({ kernel, values: vs, label, ...(group === undefined ? {} : { group }) });
    },
  };
  const valueFor = (n: Node): number => {
    const v = valueMap.get(n.id) ?? newValue(bytesOf(rowsOf(n) * numel(n.shape)), 'activation', `${n.op.kind} at ${n.name}`);
    valueMap.set(n.id, v);
    return v;
  };

  for (const n of order) {
    const op = n.op;
    if (absorbed.has(n.id)) continue;
    if (op.kind === 'input') {
      const v = newValue(bytesOf(B * numel(n.shape)), 'input', `input '${op.name}'`);
      valueMap.set(n.id, v);
      inputs.push({ name: op.name, value: v, shape: n.shape });
      continue;
    }
    if (op.kind === 'param') {
      let v = paramByPath.get(op.path);
      if (v === undefined) {
        v = newValue(bytesOf(numel(n.shape)), 'param', op.path, op.path);
        paramByPath.set(op.path, v);
        params.push({ path: op.path, value: v, shape: n.shape });
      }
      valueMap.set(n.id, v);
      continue;
    }
    if (op.kind === 'choiceWeights') {
      valueMap.set(n.id, weightsOf(n));
      continue;
    }
    if (VIEWS.has(op.kind)) {
      valueMap.set(n.id, valueOf(n.inputs[0]!));
      continue;
    }
    const group = guardOf(n);
    if (op.kind === 'layerChoice' && sampled) {
      const out = valueFor(n);
      const c = conds.get(n.id) ?? TRUE;
      n.inputs.forEach((cand, i) => {
        const v = valueOf(cand);
        if (v === out) return; // the candidate wrote the choice's buffer itself
        const g = toGuard(andLit(c, op.key, i, layerKeys));
        emitCopy(emitter, v, out, numel(n.shape), `copy candidate ${op.names[i]} of '${op.key}' at ${n.name}`, g);
      });
      continue;
    }
    if (op.kind === 'layerChoice' || op.kind === 'inputChoice') {
      emitWeighted(emitter, n, weightsOf(n), valueFor(n), group);
      continue;
    }
    const chain = chains.get(n.id);
    const head = chain?.head ?? n;
    if (!emitCompute(emitter, head, chain?.steps ?? [], valueFor(n), group) && !(training && emitTraining(emitter, head, chain?.steps ?? [], valueFor(n)))) {
      throw new Error(`lower: no kernel for ${labelOf(head, [])}`); // every op kind is handled above
    }
  }
  // Sampled mode: layer keys have no weights buffer but must be known to the runtime.
  if (sampled) {
    for (const [key, count] of layerKeys) if (!choices.some((c) => c.key === key)) choices.push({ key, kind: 'layer', count });
  }

  // Outputs: an intermediate becomes resident; an input or parameter is copied out (never read back in place).
  const outputs = g.outputs.map((out, i) => {
    const v = valueOf(out);
    const role = values[v]!.role;
    const label = `output ${i} (${out.op.kind} at ${out.name})`;
    if (role === 'activation' || role === 'output') {
      values[v] = { ...values[v]!, role: 'output' };
      return { value: v, shape: out.shape, label };
    }
    const copy = newValue(bytesOf(rowsOf(out) * numel(out.shape)), 'output', label);
    emitCopy(emitter, v, copy, rowsOf(out) * numel(out.shape), `copy ${label}`, undefined, 1);
    return { value: copy, shape: out.shape, label };
  });

  return E.right({ mode: o.mode, batch: B, values, dispatches, inputs, outputs, params, choices, ...(scalars.length > 0 ? { scalars } : {}) });
};

/**
 * Compiles `g` for `o.mode` at batch size `o.batch`. Errors (all collected): a non-positive batch, a choice in
 * fixed mode (naming its key), an absent value, no outputs.
 *
 * @example
 * const fixed = lower(E.getOrElseW(() => { throw 0; })(apply(g, arch)), { mode: 'fixed', batch: 4 });
 * const supernet = lower(g, { mode: 'sampled', batch: 4 }); // one program for every architecture
 */
export const lower = (g: Graph, o: LowerOptions): E.Either<readonly LowerError[], Program> =>
  E.map(planMemory)(schedule(g, o));
