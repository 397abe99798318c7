/**
 * A supernet on the device, for one-shot search: every program a one-shot algorithm needs, compiled on first use and
 * bound to ONE set of parameter buffers (a `ParamPool`), so that whatever runs — the mixed supernet (every candidate
 * computed and weighted), the training step of one sampled architecture, the sampled-mode evaluation program — trains
 * and reads the same weights, optimizer state and BatchNorm statistics, by parameter path.
 *
 * - `mixedStep`: forward + backward of the mixed supernet under run-time weights per key; returns the loss, the
 *   logits and ∂L/∂w per key (DARTS, GDAS, ProxylessNAS feed these to their chain rules); `update: false` leaves
 *   every weight as it was (an architecture step); `paramGrads: true` also returns ∂L/∂θ of every weight (DARTS'
 *   second order).
 * - `sampledStep`: one training step of one architecture (ENAS, SPOS, ProxylessNAS's weight step): the fixed subnet
 *   `apply(graph, arch)` is compiled once per architecture (a small LRU cache of them; pipelines are shared by the
 *   device's pipeline cache, so a new architecture rarely compiles a new kernel).
 * - `evaluate`: accuracy and loss of an architecture (sampled-mode program, eval form) or of mix weights.
 * - `recalibrate`: BatchNorm running statistics of an architecture re-estimated on training batches (SPOS).
 * - `readParams`/`writeParams`: the weights by path (checkpoints; DARTS' virtual step and finite differences).
 *
 * Steps are numbered globally (Adam's bias correction, the dropout seed): `step` counts updates taken by any program.
 *
 * @example
 * const net = await Supernet.create(graph, { gpu, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.025, momentum: 0.9 }, seed: 1 });
 * const r = await net.right.mixedStep(batch, weights, { lr: 0.025, update: true });
 * r.right.choiceGrads['normal_n2_p0']; // ∂L/∂w of that key's candidates
 * net.right.destroy();
 */
import * as E from 'fp-ts/lib/Either.js';
import { lower } from '../../compile/lower.ts';
import { lowerTraining } from '../../compile/lower-train.ts';
import { mixGraph } from '../../compile/mix.ts';
import { type OptimizerSpec, type ResolvedOptimizer, OPTIMIZER_PREFIX, stepScalars, withOptimizer } from '../../compile/optimizer.ts';
import type { Program, TrainingProgram } from '../../compile/program.ts';
import { trainingGraph } from '../../compile/training-graph.ts';
import { type AdapterKind, adapterKind } from '../../compile/kernels/tiles.ts';
import { type Architecture, apply } from '../../ir/apply.ts';
import { architectureKey } from '../../ir/architecture.ts';
import { type Graph, choiceNodes } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { seedRng } from '../../ir/rng.ts';
import { shapeVaryingChoices } from '../../ir/shape-varying.ts';
import { type SearchSpace, searchSpace } from '../../ir/space.ts';
import { numel, shapeEq, showShape } from '../../ir/shape.ts';
import type { KeyVectors } from '../../search/oneshot/types.ts';
import type { Dataset } from '../data/batches.ts';
import type { Gpu } from '../device.ts';
import { type ChoiceInput, type ExecError, Executable } from '../execute.ts';
import { ParamPool } from '../param-pool.ts';
import { type ParamStore, initParams } from '../params.ts';
import { dropoutSeed } from '../train.ts';
import { evaluateDataset } from '../train-eval.ts';

export interface SupernetOptions {
  readonly gpu: Gpu;
  /** Samples per training step (every program is compiled for it). */
  readonly batchSize: number;
  /** Samples per evaluation run (default: `batchSize`). */
  readonly evalBatchSize?: number;
  /** The weights' optimizer (its learning rate is given per step). */
  readonly optimizer: OptimizerSpec;
  readonly clipGradNorm?: number;
  readonly labelSmoothing?: number;
  /** Seeds the initial weights (by path, as `initParams`) and the dropout streams. */
  readonly seed: number;
  /** Weights to start from instead of fresh ones, by path (a saved supernet). */
  readonly init?: ParamStore;
  /** How many compiled subnets `sampledStep` keeps (least recently used go first). Default 4: each holds its own activation buffers (780 MB at batch 64 on the 8-cell DARTS space), and a fresh path per step rarely repeats one. */
  readonly subnetCache?: number;
}

/** One training batch: `images` [batch, ...shape], `labels` class indices. */
export interface StepBatch {
  readonly images: Float32Array;
  readonly labels: ArrayLike<number>;
}

export interface StepOptions {
  /** The learning rate of this step (schedules are the caller's). */
  readonly lr: number;
  /** False: compute the loss and gradients, change no weight. Default true. */
  readonly update?: boolean;
}

export interface MixedOutcome {
  readonly loss: number;
  /** [batch, classes]. */
  readonly logits: Float32Array;
  /** ∂L/∂w per choice key (the mix weights' gradient). */
  readonly choiceGrads: KeyVectors;
  /** ∂L/∂θ by parameter path, when asked for (`paramGrads: true`). */
  readonly paramGrads?: ReadonlyMap<string, Float32Array>;
}

export interface SampledOutcome {
  readonly loss: number;
  readonly logits: Float32Array;
}

export type SupernetError =
  | { readonly tag: 'Model'; readonly message: string }
  | { readonly tag: 'Compile'; readonly message: string }
  | { readonly tag: 'Exec'; readonly error: ExecError; readonly message: string };

const execErrors = (es: readonly ExecError[]): readonly SupernetError[] => es.map((error) => ({ tag: 'Exec', error, message: error.message }));
const compileErrors = (what: string, es: readonly { readonly message: string }[]): readonly SupernetError[] =>
  es.map((e) => ({ tag: 'Compile', message: `${what}: ${e.message}` }));

interface Trainer {
  readonly program: TrainingProgram;
  readonly exe: Executable;
  readonly rule: ResolvedOptimizer['rule'];
  readonly hasSeed: boolean;
}

/** Output index of a buffer among a program's outputs. */
const outputIndex = (p: Program, buffer: number): number => p.outputs.findIndex((o) => o.buffer === buffer);

export class Supernet {
  readonly graph: Graph;
  readonly space: SearchSpace;
  readonly #o: SupernetOptions;
  readonly #pool: ParamPool;
  readonly #initial: ParamStore;
  readonly #adapter: AdapterKind;
  readonly #input: string;
  readonly classes: number;
  #mixed: Trainer | undefined;
  #mixedEval: Executable | undefined;
  /** Eval programs per architecture, used instead of the sampled-mode one when candidates differ in shape. */
  readonly #fixedEvals = new Map<string, Executable>();
  readonly #shapeVarying: boolean;
  #sampledEval: Executable | undefined;
  readonly #subnets = new Map<string, Trainer>();
  #step = 0;
  #destroyed = false;

  private constructor(graph: Graph, o: SupernetOptions, initial: ParamStore) {
    this.graph = graph;
    this.space = searchSpace(graph);
    this.#o = o;
    this.#pool = new ParamPool(o.gpu);
    this.#initial = initial;
    this.#adapter = adapterKind(o.gpu.adapterInfo);
    const x = graph.inputs[0]!;
    this.#input = x.op.kind === 'input' ? x.op.name : 'x';
    this.classes = numel(graph.outputs[0]!.shape);
    this.#shapeVarying = shapeVaryingChoices(graph).length > 0;
  }

  /** Checks the model (one image input, one logits output, at least one choice) and prepares the weights. */
  static create(graph: Graph, o: SupernetOptions): E.Either<readonly SupernetError[], Supernet> {
    const errors: SupernetError[] = [];
    if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
      errors.push({ tag: 'Model', message: `a supernet needs one input and one output (logits); this model has ${graph.inputs.length} and ${graph.outputs.length}` });
    } else if (graph.outputs[0]!.shape.length !== 1) {
      errors.push({ tag: 'Model', message: `the model's output must be logits [classes], it is ${showShape(graph.outputs[0]!.shape)}` });
    }
    if (choiceNodes(graph).length === 0) errors.push({ tag: 'Model', message: 'the model has no choices: there is nothing to search (train it with `nasgraph retrain`)' });
    if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) errors.push({ tag: 'Model', message: `batch size must be a positive integer, got ${o.batchSize}` });
    if (errors.length > 0) return E.left(errors);
    const [drawn] = initParams(graph, seedRng(o.seed));
    const initial = new Map(drawn);
    for (const [path, v] of o.init ?? []) initial.set(path, v);
    return E.right(new Supernet(graph, o, initial));
  }

  /** Optimizer updates taken so far (by any program). */
  get step(): number {
    return this.#step;
  }

  /** Restarts the step count (e.g. after a warm-up whose optimizer state is discarded). */
  set step(t: number) {
    this.#step = t;
  }

  #check(): readonly SupernetError[] {
    return this.#destroyed ? [{ tag: 'Exec', error: { tag: 'Destroyed', message: 'this supernet was destroyed' }, message: 'this supernet was destroyed' }] : [];
  }

  async #trainer(graph: Graph, what: string, wrt: readonly Node[] = []): Promise<E.Either<readonly SupernetError[], Trainer>> {
    const step = trainingGraph(graph, { labelSmoothing: this.#o.labelSmoothing ?? 0, ...(wrt.length === 0 ? {} : { extraWrt: () => wrt }) });
    const prog = lowerTraining(step, { mode: 'fixed', batch: this.#o.batchSize, adapter: this.#adapter });
    if (E.isLeft(prog)) return E.left(compileErrors(what, prog.left));
    const opt = withOptimizer(prog.right, { optimizer: this.#o.optimizer, ...(this.#o.clipGradNorm === undefined ? {} : { clipGradNorm: this.#o.clipGradNorm }) });
    if (E.isLeft(opt)) return E.left(compileErrors(what, opt.left));
    // Optimizer state starts at zero, as PyTorch's (created at a parameter's first update).
    const init = new Map(this.#initial);
    for (const q of opt.right.program.params) if (!init.has(q.path) && !this.#pool.has(q.path)) init.set(q.path, new Float32Array(numel(q.shape)));
    const exe = await Executable.instantiate(this.#o.gpu, opt.right.program, init, { pool: this.#pool });
    if (E.isLeft(exe)) return E.left(execErrors(exe.left));
    return E.right({ program: opt.right.program, exe: exe.right, rule: opt.right.layout.resolved.rule, hasSeed: opt.right.program.scalars.some((s) => s.name === 'seed') });
  }

  async #mixedTrainer(): Promise<E.Either<readonly SupernetError[], Trainer>> {
    if (this.#mixed !== undefined) return E.right(this.#mixed);
    const m = mixGraph(this.graph);
    if (E.isLeft(m)) return E.left(compileErrors('the mixed supernet', m.left));
    // The weights leaves have no inputs, so the training form keeps them as they are: differentiate by them.
    const t = await this.#trainer(m.right.graph, 'the mixed supernet', m.right.weights.map((w) => w.leaf));
    if (E.isRight(t)) this.#mixed = t.right;
    return t;
  }

  async #subnet(arch: Architecture): Promise<E.Either<readonly SupernetError[], Trainer>> {
    const key = architectureKey(arch);
    const hit = this.#subnets.get(key);
    if (hit !== undefined) {
      // Most recently used last.
      this.#subnets.delete(key);
      this.#subnets.set(key, hit);
      return E.right(hit);
    }
    const fixed = apply(this.graph, arch);
    if (E.isLeft(fixed)) return E.left(fixed.left.map((e) => ({ tag: 'Model', message: `architecture ${key}: ${e.message}` })));
    const t = await this.#trainer(fixed.right, `the subnet ${key}`);
    if (E.isLeft(t)) return t;
    this.#subnets.set(key, t.right);
    const limit = Math.max(1, this.#o.subnetCache ?? 4);
    while (this.#subnets.size > limit) {
      const [oldest, v] = this.#subnets.entries().next().value as [string, Trainer];
      v.exe.destroy();
      this.#subnets.delete(oldest);
    }
    return E.right(t.right);
  }

  #scalars(t: Trainer, o: StepOptions): Record<string, number> {
    const update = o.update !== false;
    const s: Record<string, number> = { ...stepScalars(t.rule, update ? this.#step + 1 : Math.max(1, this.#step), o.lr) };
    if (t.hasSeed) s['seed'] = dropoutSeed(this.#o.seed, this.#step);
    return s;
  }

  #labels(b: StepBatch): Float32Array {
    const B = this.#o.batchSize;
    const l = new Float32Array(B);
    for (let i = 0; i < B; i++) l[i] = b.labels[i]!;
    return l;
  }

  /**
   * One forward + backward pass of the mixed supernet under `weights` (one vector per choice key), and the weights'
   * update unless `update: false`. Returns the loss, the logits and ∂L/∂w per key; with `paramGrads`, ∂L/∂θ too.
   */
  async mixedStep(batch: StepBatch, weights: KeyVectors, o: StepOptions & { readonly paramGrads?: boolean }): Promise<E.Either<readonly SupernetError[], MixedOutcome>> {
    const dead = this.#check();
    if (dead.length > 0) return E.left(dead);
    const tr = await this.#mixedTrainer();
    if (E.isLeft(tr)) return tr;
    const t = tr.right;
    const p = t.program;
    const cg = p.choiceGrads.map((c) => ({ key: c.key, index: outputIndex(p, c.buffer) }));
    const pg = o.paramGrads === true ? p.grads.map((g) => ({ path: g.path, index: outputIndex(p, g.grad) })) : [];
    const readback = [0, p.logits, ...cg.map((c) => c.index), ...pg.map((g) => g.index)];
    const r = await t.exe.run({
      inputs: { [this.#input]: batch.images, labels: this.#labels(batch) },
      choice: { kind: 'mix', weights },
      scalars: this.#scalars(t, o),
      update: o.update !== false,
      readback,
    });
    if (E.isLeft(r)) return E.left(execErrors(r.left));
    if (o.update !== false) this.#step++;
    const out = r.right;
    const choiceGrads: Record<string, number[]> = {};
    cg.forEach((c, i) => {
      choiceGrads[c.key] = Array.from(out[2 + i]!);
    });
    const paramGrads = o.paramGrads === true ? new Map(pg.map((g, i) => [g.path, out[2 + cg.length + i]!] as const)) : undefined;
    return E.right({ loss: out[0]![0]!, logits: out[1]!, choiceGrads, ...(paramGrads === undefined ? {} : { paramGrads }) });
  }

  /** One training step of the subnet `arch` (its weights shared with the supernet), unless `update: false`. */
  async sampledStep(batch: StepBatch, arch: Architecture, o: StepOptions): Promise<E.Either<readonly SupernetError[], SampledOutcome>> {
    const dead = this.#check();
    if (dead.length > 0) return E.left(dead);
    const tr = await this.#subnet(arch);
    if (E.isLeft(tr)) return tr;
    const t = tr.right;
    const r = await t.exe.run({
      inputs: { [this.#input]: batch.images, labels: this.#labels(batch) },
      scalars: this.#scalars(t, o),
      update: o.update !== false,
      readback: [0, t.program.logits],
    });
    if (E.isLeft(r)) return E.left(execErrors(r.left));
    if (o.update !== false) this.#step++;
    return E.right({ loss: r.right[0]![0]!, logits: r.right[1]! });
  }

  /** The eval-form program (BatchNorm with running statistics, no dropout) for `choice`'s kind. */
  async #evaluator(kind: 'select' | 'mix'): Promise<E.Either<readonly SupernetError[], Executable>> {
    const have = kind === 'select' ? this.#sampledEval : this.#mixedEval;
    if (have !== undefined) return E.right(have);
    const prog = lower(this.graph, { mode: kind === 'select' ? 'sampled' : 'mixed', batch: this.#o.evalBatchSize ?? this.#o.batchSize, adapter: this.#adapter });
    if (E.isLeft(prog)) return E.left(compileErrors(`the ${kind === 'select' ? 'sampled' : 'mixed'} evaluation program`, prog.left));
    const exe = await Executable.instantiate(this.#o.gpu, prog.right, this.#initial, { pool: this.#pool });
    if (E.isLeft(exe)) return E.left(execErrors(exe.left));
    if (kind === 'select') this.#sampledEval = exe.right;
    else this.#mixedEval = exe.right;
    return E.right(exe.right);
  }

  /**
   * The eval-form program of one architecture's fixed graph, for a supernet with layer choices whose candidates
   * differ in output shape (one sampled-mode program cannot hold every architecture's shapes). Cached as subnets.
   */
  async #fixedEvaluator(arch: Architecture): Promise<E.Either<readonly SupernetError[], Executable>> {
    const key = architectureKey(arch);
    const hit = this.#fixedEvals.get(key);
    if (hit !== undefined) {
      this.#fixedEvals.delete(key);
      this.#fixedEvals.set(key, hit);
      return E.right(hit);
    }
    const fixed = apply(this.graph, arch);
    if (E.isLeft(fixed)) return E.left(fixed.left.map((e) => ({ tag: 'Model', message: `architecture ${key}: ${e.message}` })));
    const prog = lower(fixed.right, { mode: 'fixed', batch: this.#o.evalBatchSize ?? this.#o.batchSize, adapter: this.#adapter });
    if (E.isLeft(prog)) return E.left(compileErrors(`the evaluation program of ${key}`, prog.left));
    const exe = await Executable.instantiate(this.#o.gpu, prog.right, this.#initial, { pool: this.#pool });
    if (E.isLeft(exe)) return E.left(execErrors(exe.left));
    this.#fixedEvals.set(key, exe.right);
    const limit = Math.max(1, this.#o.subnetCache ?? 4);
    while (this.#fixedEvals.size > limit) {
      const [oldest, v] = this.#fixedEvals.entries().next().value as [string, Executable];
      v.destroy();
      this.#fixedEvals.delete(oldest);
    }
    return E.right(exe.right);
  }

  /** Mean loss and accuracy over `ds` of an architecture (`{ arch }`) or of mix weights (`{ weights }`). */
  async evaluate(ds: Dataset, choice: { readonly arch: Architecture } | { readonly weights: KeyVectors }): Promise<E.Either<readonly SupernetError[], { readonly loss: number; readonly accuracy: number }>> {
    const dead = this.#check();
    if (dead.length > 0) return E.left(dead);
    if (!shapeEq(ds.shape, this.graph.inputs[0]!.shape)) {
      return E.left([{ tag: 'Model', message: `the data set's samples are ${showShape(ds.shape)}, the supernet takes ${showShape(this.graph.inputs[0]!.shape)}` }]);
    }
    if ('arch' in choice && this.#shapeVarying) {
      const fx = await this.#fixedEvaluator(choice.arch);
      if (E.isLeft(fx)) return fx;
      const r = await evaluateDataset(fx.right, ds, { input: this.#input });
      return E.isLeft(r) ? E.left(execErrors(r.left)) : E.right(r.right);
    }
    const kind = 'arch' in choice ? 'select' : 'mix';
    const ev = await this.#evaluator(kind);
    if (E.isLeft(ev)) return ev;
    const c: ChoiceInput = 'arch' in choice ? { kind: 'select', arch: choice.arch } : { kind: 'mix', weights: choice.weights };
    const r = await evaluateDataset(ev.right, ds, { input: this.#input, choice: c });
    return E.isLeft(r) ? E.left(execErrors(r.left)) : E.right(r.right);
  }

  /**
   * Re-estimates the BatchNorm running statistics `arch` uses: reset to PyTorch's initial values (mean 0, variance
   * 1), then one train-form forward pass per batch with no weight update (each pass moves them by BatchNorm's
   * momentum, 0.1: 20 batches leave 12 % of the reset values, 40 leave 1.5 %). What SPOS does before it evaluates
   * a candidate with shared weights.
   */
  async recalibrate(arch: Architecture, batches: Iterable<StepBatch>): Promise<E.Either<readonly SupernetError[], void>> {
    const dead = this.#check();
    if (dead.length > 0) return E.left(dead);
    const tr = await this.#subnet(arch);
    if (E.isLeft(tr)) return tr;
    const stats = tr.right.program.params.filter((q) => /\/running_(mean|var)$/.test(q.path));
    const reset = new Map(stats.map((q) => [q.path, new Float32Array(numel(q.shape)).fill(q.path.endsWith('running_var') ? 1 : 0)]));
    const w = await this.#pool.write(reset);
    if (E.isLeft(w)) return E.left(execErrors(w.left));
    for (const b of batches) {
      const r = await this.sampledStep(b, arch, { lr: 0, update: false });
      if (E.isLeft(r)) return r;
    }
    return E.right(undefined);
  }

  /** The model's parameters by path (not the optimizer state), as far as any program has bound them. */
  async readParams(): Promise<E.Either<readonly SupernetError[], Map<string, Float32Array>>> {
    const dead = this.#check();
    if (dead.length > 0) return E.left(dead);
    const r = await this.#pool.read(this.#pool.paths.filter((p) => !p.startsWith(OPTIMIZER_PREFIX)));
    return E.isLeft(r) ? E.left(execErrors(r.left)) : E.right(r.right);
  }

  /**
   * Everything a resumed search needs: every bound tensor (weights, BatchNorm statistics, optimizer state) by path,
   * with its shape. `Supernet.create(graph, { ...o, init: tensors })` and `step` give them back.
   */
  async readState(): Promise<E.Either<readonly SupernetError[], ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>>> {
    const dead = this.#check();
    if (dead.length > 0) return E.left(dead);
    const r = await this.#pool.read();
    if (E.isLeft(r)) return E.left(execErrors(r.left));
    return E.right(new Map([...r.right].map(([path, data]) => [path, { shape: this.#pool.shapeOf(path)!, data }] as const)));
  }

  /** Overwrites parameters by path (all must already be bound by some program). */
  async writeParams(values: ReadonlyMap<string, Float32Array>): Promise<E.Either<readonly SupernetError[], void>> {
    const dead = this.#check();
    if (dead.length > 0) return E.left(dead);
    const r = await this.#pool.write(values);
    return E.isLeft(r) ? E.left(execErrors(r.left)) : E.right(undefined);
  }

  /** Frees every program and buffer. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#mixed?.exe.destroy();
    this.#mixedEval?.destroy();
    this.#sampledEval?.destroy();
    for (const t of this.#subnets.values()) t.exe.destroy();
    for (const x of this.#fixedEvals.values()) x.destroy();
    this.#fixedEvals.clear();
    this.#subnets.clear();
    this.#pool.destroy();
  }
}
