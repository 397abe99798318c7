/**
 * What `train` prepares before its first step: the training Program (a mixed graph when the model still has
 * choices, the training graph, its lowering, the optimizer appended) and the eval-form forward Program; the
 * options checked against the model and the data (every problem reported); the initial parameter store.
 */
import * as E from 'fp-ts/lib/Either.js';
import { lower } from '../compile/lower.ts';
import { lowerTraining } from '../compile/lower-train.ts';
import { mixGraph } from '../compile/mix.ts';
import { type OptimizerLayout, type OptimizerSpec, resolveOptimizer, withOptimizer } from '../compile/optimizer.ts';
import type { Program, TrainingProgram } from '../compile/program.ts';
import { type LrSchedule, checkSchedule } from '../compile/schedule.ts';
import { trainingGraph } from '../compile/training-graph.ts';
import type { AdapterKind } from '../compile/kernels/tiles.ts';
import { type Graph, choiceNodes } from '../ir/graph.ts';
import type { Rng } from '../ir/rng.ts';
import { type Shape, numel, shapeEq, showShape } from '../ir/shape.ts';
import type { CheckpointError } from './checkpoint.ts';
import type { Dataset } from './data/batches.ts';
import type { ExecError } from './execute.ts';
import { type ParamStore, initParams } from './params.ts';

/** The data of a run: the training set, and optionally a validation and a test set evaluated every epoch. */
export interface TrainData {
  readonly train: Dataset;
  readonly valid?: Dataset;
  readonly test?: Dataset;
}

export type TrainError =
  | { readonly tag: 'InvalidOption'; readonly option: string; readonly message: string }
  | { readonly tag: 'DataMismatch'; readonly message: string }
  | { readonly tag: 'Compile'; readonly message: string }
  | { readonly tag: 'Exec'; readonly error: ExecError; readonly message: string }
  | { readonly tag: 'Checkpoint'; readonly error: CheckpointError; readonly message: string }
  | { readonly tag: 'ResumeMismatch'; readonly message: string }
  /** The epoch's mean training loss grew past `DIVERGENCE_FACTOR`× the first step's (src/runtime/divergence.ts). */
  | { readonly tag: 'Diverged'; readonly epoch: number; readonly loss: number; readonly first: number; readonly message: string }
  | {
      readonly tag: 'NonFiniteLoss';
      /** The global optimizer step (1-based) whose loss was not finite, its epoch and batch (1-based). */
      readonly step: number;
      readonly epoch: number;
      readonly batch: number;
      readonly loss: number;
      /** The last checkpoint written (undefined when none was). */
      readonly checkpoint: string | undefined;
      readonly message: string;
    };

export const execErrors = (es: readonly ExecError[]): readonly TrainError[] => es.map((error) => ({ tag: 'Exec', error, message: error.message }));

/** The options a training run takes (see `train`). */
export interface TrainSettings {
  readonly epochs: number;
  readonly batchSize: number;
  readonly optimizer: OptimizerSpec;
  readonly schedule?: LrSchedule;
  readonly clipGradNorm?: number;
  readonly labelSmoothing?: number;
  readonly seed: number;
  readonly choiceWeights?: Readonly<Record<string, readonly number[]>>;
  readonly evalBatchSize?: number;
  /** Skip steps whose loss is not finite (counted in the metrics) instead of stopping. */
  readonly skipNonFinite?: boolean;
}

export interface Compiled {
  readonly train: TrainingProgram;
  readonly layout: OptimizerLayout;
  readonly eval: Program;
  /** The graph whose parameters are trained (the mixed graph when the model had choices). */
  readonly graph: Graph;
  readonly mixed: boolean;
  /** Name of the image input of both Programs. */
  readonly input: string;
  readonly classes: number;
}

const problem = (option: string, message: string): TrainError => ({ tag: 'InvalidOption', option, message });

/** Every problem of the options and of the data against the model (before anything is compiled). */
export const checkSettings = (graph: Graph, data: TrainData, s: TrainSettings): readonly TrainError[] => {
  const errors: TrainError[] = [];
  if (!(Number.isInteger(s.epochs) && s.epochs >= 0)) errors.push(problem('epochs', `epochs must be a non-negative integer, got ${s.epochs}`));
  if (!(Number.isInteger(s.batchSize) && s.batchSize >= 1)) errors.push(problem('batchSize', `batch size must be a positive integer, got ${s.batchSize}`));
  if (s.evalBatchSize !== undefined && !(Number.isInteger(s.evalBatchSize) && s.evalBatchSize >= 1)) {
    errors.push(problem('evalBatchSize', `eval batch size must be a positive integer, got ${s.evalBatchSize}`));
  }
  if (!Number.isInteger(s.seed)) errors.push(problem('seed', `seed must be an integer, got ${s.seed}`));
  const ls = s.labelSmoothing ?? 0;
  if (!(Number.isFinite(ls) && ls >= 0 && ls < 1)) errors.push(problem('labelSmoothing', `label smoothing must be in [0, 1), got ${ls}`));
  const opt = resolveOptimizer(s.optimizer);
  if (E.isLeft(opt)) errors.push(...opt.left.map((e) => problem(`optimizer.${e.tag === 'InvalidHyperparameter' ? e.field : ''}`, e.message)));
  if (s.clipGradNorm !== undefined && !(Number.isFinite(s.clipGradNorm) && s.clipGradNorm > 0)) {
    errors.push(problem('clipGradNorm', `clipGradNorm must be a positive number, got ${s.clipGradNorm}`));
  }
  if (s.schedule !== undefined) {
    const c = checkSchedule(s.schedule);
    if (E.isLeft(c)) errors.push(...c.left.map((e) => problem(`schedule.${e.field}`, e.message)));
  }
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
    errors.push({ tag: 'DataMismatch', message: `train needs a model with one input and one output (logits), this one has ${graph.inputs.length} and ${graph.outputs.length}` });
    return errors;
  }
  const inShape: Shape = graph.inputs[0]!.shape;
  const outShape: Shape = graph.outputs[0]!.shape;
  if (outShape.length !== 1) errors.push({ tag: 'DataMismatch', message: `the model's output must be logits [classes], it is ${showShape(outShape)}` });
  const classes = numel(outShape);
  for (const [name, ds] of [['train', data.train], ['valid', data.valid], ['test', data.test]] as const) {
    if (ds === undefined) continue;
    if (!shapeEq(ds.shape, inShape)) errors.push({ tag: 'DataMismatch', message: `the ${name} set's samples are ${showShape(ds.shape)}, the model takes ${showShape(inShape)}` });
    if (ds.classes > classes) errors.push({ tag: 'DataMismatch', message: `the ${name} set has ${ds.classes} classes, the model outputs ${classes} logits` });
  }
  if (Number.isInteger(s.batchSize) && data.train.n < s.batchSize) {
    errors.push({ tag: 'DataMismatch', message: `the training set has ${data.train.n} samples, fewer than one batch of ${s.batchSize} (the last short batch of an epoch is dropped)` });
  }
  const keys = choiceNodes(graph).map((c) => c.op.key);
  if (keys.length > 0 && s.choiceWeights === undefined) {
    errors.push(problem('choiceWeights', `the model still has choices (${[...new Set(keys)].join(', ')}): apply an architecture first, or give fixed choice weights`));
  }
  return errors;
};

/** Compiles the training step (with its optimizer) and the evaluation Program. */
export const compileFor = (graph: Graph, s: TrainSettings, adapter: AdapterKind): E.Either<readonly TrainError[], Compiled> => {
  const compileError = (message: string): TrainError => ({ tag: 'Compile', message });
  const mixed = choiceNodes(graph).length > 0;
  let trained = graph;
  if (mixed) {
    const m = mixGraph(graph);
    if (E.isLeft(m)) return E.left(m.left.map((e) => compileError(e.message)));
    trained = m.right.graph;
  }
  const step = trainingGraph(trained, { labelSmoothing: s.labelSmoothing ?? 0 });
  const prog = lowerTraining(step, { mode: 'fixed', batch: s.batchSize, adapter });
  const evalProg = lower(graph, { mode: mixed ? 'mixed' : 'fixed', batch: s.evalBatchSize ?? s.batchSize, adapter });
  const errors = [...(E.isLeft(prog) ? prog.left : []), ...(E.isLeft(evalProg) ? evalProg.left : [])].map((e) => compileError(e.message));
  if (errors.length > 0 || E.isLeft(prog) || E.isLeft(evalProg)) return E.left(errors);
  const opt = withOptimizer(prog.right, {
    optimizer: s.optimizer,
    ...(s.clipGradNorm === undefined ? {} : { clipGradNorm: s.clipGradNorm }),
    // A skipped step must not leave its batch in the BatchNorm running statistics either.
    restoreBuffersOnNonFinite: s.skipNonFinite === true,
  });
  if (E.isLeft(opt)) return E.left(opt.left.map((e) => compileError(e.message)));
  const x = graph.inputs[0]!;
  return E.right({
    train: opt.right.program,
    layout: opt.right.layout,
    eval: evalProg.right,
    graph: trained,
    mixed,
    input: x.op.kind === 'input' ? x.op.name : 'x',
    classes: numel(graph.outputs[0]!.shape),
  });
};

/**
 * The starting values of every parameter of the training Program: drawn by each parameter's init scheme from
 * `rng`, replaced by `init`'s values where it has the path; optimizer state zero. Returns the generator after
 * the draw (the data order continues from it).
 */
export const initialStore = (c: Compiled, rng: Rng, init: ParamStore | undefined): [Map<string, Float32Array>, Rng] => {
  const [drawn, next] = initParams(c.graph, rng);
  const store = new Map<string, Float32Array>();
  for (const q of c.train.params) {
    const v = init?.get(q.path) ?? drawn.get(q.path) ?? new Float32Array(numel(q.shape));
    store.set(q.path, v);
  }
  return [store, next];
};

/** The shapes of every parameter (model and optimizer state) of a Program, by path. */
export const programShapes = (p: Program): ReadonlyMap<string, Shape> => new Map(p.params.map((q) => [q.path, q.shape]));
