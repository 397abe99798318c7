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
import type { OpOf } from '../ir/ops.ts';
import type { ChainStep, Emitter } from './emitter.ts';
import { planFusion } from './fuse.ts';
import { type AdapterKind, defaultTile } from './kernels/tiles.ts';
import { type Dnf, TRUE, andLit, layerKeysOf, nodeConditions, toGuard } from './lower-guards.ts';
import { emitCopy, emitWeighted, labelOf } from './lower-ops.ts';
import { loweringOf } from './lowerings.ts';
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
  /** A training or gradient op (of `grad`/`trainingGraph`) in the forward lowering, which has no kernel for it. */
  | { readonly tag: 'UnsupportedOp'; readonly op: string; readonly node: string; readonly message: string };

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
    if (loweringOf(op).phase === 'training' && !training) {
      errors.push({
        tag: 'UnsupportedOp',
        op: op.kind,
        node: n.name,
        message: `${n.name}: ${op.kind} has no kernel in the forward lowering (lower compiles inference graphs; lowerTraining compiles training steps)`,
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

/** Uses of every node (occurrences among inputs, plus one per graph output: an output is never fused away or aliased) and the user of each. */
const countUses = (order: readonly Node[], outputs: readonly Node[]): { readonly uses: Map<string, number>; readonly soleUser: Map<string, Node> } => {
  const uses = new Map<string, number>();
  const soleUser = new Map<string, Node>();
  for (const n of order) for (const x of n.inputs) {
    uses.set(x.id, (uses.get(x.id) ?? 0) + 1);
    soleUser.set(x.id, n);
  }
  for (const out of outputs) uses.set(out.id, (uses.get(out.id) ?? 0) + 1);
  return { uses, soleUser };
};

/** The schedule under construction: its values, dispatches and bindings, and how to add to them. */
class ScheduleBuilder {
  readonly values: LogicalValue[] = [];
  readonly dispatches: LogicalDispatch[] = [];
  readonly valueMap = new Map<string, number>();
  readonly weights = new Map<string, number>();
  readonly choices: Schedule['choices'][number][] = [];
  readonly scalars: NonNullable<Schedule['scalars']>[number][] = [];
  readonly inputs: Schedule['inputs'][number][] = [];
  readonly params: Schedule['params'][number][] = [];
  readonly paramByPath = new Map<string, number>();
  readonly emitter: Emitter;

  constructor(readonly batch: number, adapter: AdapterKind) {
    this.emitter = {
      batch,
      tile: defaultTile(adapter),
      valueOf: (n) => this.valueOf(n),
      rowsOf: (n) => this.rowsOf(n),
      memo: new Map<string, number>(),
      scalar: (name, type) => {
        const seen = this.scalars.find((x) => x.name === name);
        if (seen !== undefined) return seen.value;
        const v = this.newValue(4, 'scalar', `scalar '${name}'`);
        this.scalars.push({ name, value: v, type });
        return v;
      },
      scratch: (bytes, label) => this.newValue(bytes, 'scratch', label),
      dispatch: (kernel, vs, label, group) => {
        this.dispatches.push({ kernel, values: vs, label, ...(group === undefined ? {} : { group }) });
      },
    };
  }

  rowsOf(n: Node): number {
    return n.batched ? this.batch : 1;
  }

  newValue(bytes: number, role: BufferRole, label: string, paramPath?: string): number {
    this.values.push({ id: this.values.length, bytes, role, label, ...(paramPath === undefined ? {} : { paramPath }) });
    return this.values.length - 1;
  }

  valueOf(n: Node): number {
    const v = this.valueMap.get(n.id);
    if (v === undefined) throw new Error(`lower: ${n.op.kind} at ${n.name} used before it was computed`);
    return v;
  }

  /** The value a node writes: the one bound to it already (a sampled candidate writing its choice's), or a new one. */
  valueFor(n: Node): number {
    const v = this.valueMap.get(n.id) ?? this.newValue(bytesOf(this.rowsOf(n) * numel(n.shape)), 'activation', `${n.op.kind} at ${n.name}`);
    this.valueMap.set(n.id, v);
    return v;
  }

  /** The run-time weights buffer of a choice key (one per key, shared by every node of the key). */
  weightsOf(n: Node): number {
    const op = n.op;
    if (op.kind !== 'layerChoice' && op.kind !== 'inputChoice' && op.kind !== 'choiceWeights') throw new Error('weightsOf: not a choice');
    let w = this.weights.get(op.key);
    if (w === undefined) {
      const count = op.kind === 'choiceWeights' ? op.n : n.inputs.length;
      w = this.newValue(bytesOf(count), 'choiceWeights', `weights of '${op.key}'`);
      this.weights.set(op.key, w);
      this.choices.push(op.kind === 'inputChoice' ? { key: op.key, kind: 'input', value: w, count, nChosen: op.nChosen } : { key: op.key, kind: 'layer', value: w, count });
    }
    return w;
  }

  /** Binds a leaf: a graph input, a parameter (one buffer per path), or a choice key's weights. */
  bindLeaf(n: Node): void {
    const op = n.op;
    if (op.kind === 'input') {
      const v = this.newValue(bytesOf(this.batch * numel(n.shape)), 'input', `input '${op.name}'`);
      this.valueMap.set(n.id, v);
      this.inputs.push({ name: op.name, value: v, shape: n.shape });
    } else if (op.kind === 'param') {
      let v = this.paramByPath.get(op.path);
      if (v === undefined) {
        v = this.newValue(bytesOf(numel(n.shape)), 'param', op.path, op.path);
        this.paramByPath.set(op.path, v);
        this.params.push({ path: op.path, value: v, shape: n.shape });
      }
      this.valueMap.set(n.id, v);
    } else {
      this.valueMap.set(n.id, this.weightsOf(n));
    }
  }

  /** Outputs: an intermediate becomes resident; an input or parameter is copied out (never read back in place). */
  bindOutputs(outputs: readonly Node[]): Schedule['outputs'] {
    return outputs.map((out, i) => {
      const v = this.valueOf(out);
      const role = this.values[v]!.role;
      const label = `output ${i} (${out.op.kind} at ${out.name})`;
      if (role === 'activation' || role === 'output') {
        this.values[v] = { ...this.values[v]!, role: 'output' };
        return { value: v, shape: out.shape, label };
      }
      const copy = this.newValue(bytesOf(this.rowsOf(out) * numel(out.shape)), 'output', label);
      emitCopy(this.emitter, v, copy, this.rowsOf(out) * numel(out.shape), `copy ${label}`, undefined, 1);
      return { value: copy, shape: out.shape, label };
    });
  }
}

/**
 * Sampled mode: a candidate used only by its layer choice writes the choice's value directly. Users come before
 * inputs in reverse order, so a choice has its value before its candidates are considered.
 */
const bindSampledCandidates = (b: ScheduleBuilder, order: readonly Node[], uses: ReadonlyMap<string, number>): void => {
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    if (n.op.kind !== 'layerChoice') continue;
    let v = b.valueMap.get(n.id);
    if (v === undefined) {
      v = b.newValue(bytesOf(b.rowsOf(n) * numel(n.shape)), 'activation', `${n.op.key} at ${n.name}`);
      b.valueMap.set(n.id, v);
    }
    for (const c of n.inputs) {
      const kind = loweringOf(c.op).kind;
      const producing = kind !== 'view' && kind !== 'leaf';
      if (producing && uses.get(c.id) === 1 && !b.valueMap.has(c.id)) b.valueMap.set(c.id, v);
    }
  }
};

/** A sampled layer choice: a guarded copy of each candidate that did not write the choice's buffer itself. */
const emitSampledChoice = (b: ScheduleBuilder, n: Node, op: OpOf<'layerChoice'>, cond: Dnf, layerKeys: ReadonlyMap<string, number>): void => {
  const out = b.valueFor(n);
  n.inputs.forEach((cand, i) => {
    const v = b.valueOf(cand);
    if (v === out) return;
    const g = toGuard(andLit(cond, op.key, i, layerKeys));
    emitCopy(b.emitter, v, out, numel(n.shape), `copy candidate ${op.names[i]} of '${op.key}' at ${n.name}`, g);
  });
};

/** Emits the kernel of `head` (the head of a fusion chain ending at `last`, or a node alone) by its lowering. */
const emitKernel = (b: ScheduleBuilder, head: Node, steps: readonly ChainStep[], last: Node, group: Guard | undefined): void => {
  const l = loweringOf(head.op);
  if (l.kind !== 'kernel') throw new Error(`lower: ${labelOf(head, steps)} is a ${l.kind}, not a kernel`); // the caller dispatches on kinds
  const e = b.emitter;
  const label = labelOf(head, steps);
  l.emit(e, {
    op: head.op,
    head,
    steps,
    out: b.valueFor(last),
    group,
    label,
    // The GEMM generators write their label into the WGSL; a node-free label keeps equal shapes one kernel.
    kernelLabel: [head.op.kind, ...steps.map((s) => s.node.op.kind)].join('+'),
    ins: head.inputs.map(e.valueOf),
    res: steps.flatMap((s) => (s.residual === undefined ? [] : [e.valueOf(s.residual)])),
    epi: steps.map((s) => s.step),
    rows: e.rowsOf(head),
    one: (k, vs) => e.dispatch(k, vs, label, group),
  });
};

const scheduleOf = (g: Graph, o: LowerOptions, training: boolean): E.Either<readonly LowerError[], Schedule> => {
  const order = topoOrder(g.outputs);
  const errors = checkGraph(g, o, order, training);
  if (errors.length > 0) return E.left(errors);
  const { uses, soleUser } = countUses(order, g.outputs);
  const sampled = o.mode === 'sampled';
  const conds: ReadonlyMap<string, Dnf> = sampled ? nodeConditions(order, g.outputs) : new Map();
  const layerKeys = layerKeysOf(order);
  const { chains, absorbed } = planFusion(order, uses, soleUser);
  const b = new ScheduleBuilder(o.batch, o.adapter ?? 'software');
  if (sampled) bindSampledCandidates(b, order, uses);

  for (const n of order) {
    if (absorbed.has(n.id)) continue;
    const op = n.op;
    const group = sampled ? toGuard(conds.get(n.id) ?? TRUE) : undefined;
    switch (loweringOf(op).kind) {
      case 'leaf':
        b.bindLeaf(n);
        break;
      case 'view':
        b.valueMap.set(n.id, b.valueOf(n.inputs[0]!));
        break;
      case 'choice':
        if (op.kind === 'layerChoice' && sampled) emitSampledChoice(b, n, op, conds.get(n.id) ?? TRUE, layerKeys);
        else emitWeighted(b.emitter, n, b.weightsOf(n), b.valueFor(n), group);
        break;
      case 'unlowerable':
        throw new Error(`lower: ${op.kind} at ${n.name} reached the scheduler`); // checkGraph reports it
      case 'kernel': {
        const chain = chains.get(n.id);
        emitKernel(b, chain?.head ?? n, chain?.steps ?? [], n, group);
        break;
      }
    }
  }
  // Sampled mode: layer keys have no weights buffer but must be known to the runtime.
  if (sampled) {
    for (const [key, count] of layerKeys) if (!b.choices.some((c) => c.key === key)) b.choices.push({ key, kind: 'layer', count });
  }
  const outputs = b.bindOutputs(g.outputs);
  const { values, dispatches, inputs, params, choices, scalars } = b;
  return E.right({ mode: o.mode, batch: o.batch, values, dispatches, inputs, outputs, params, choices, ...(scalars.length > 0 ? { scalars } : {}) });
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
