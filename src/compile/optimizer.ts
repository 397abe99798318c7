/**
 * Optimizers as part of the compiled training step: `withOptimizer(program, options)` appends to a training
 * Program (forward + backward, with a gradient buffer per trainable parameter) the kernels that update every
 * parameter in place, so that forward, backward and update are one submit.
 *
 * - Rules: SGD (momentum, dampening, Nesterov, weight decay), Adam, AdamW and Adadelta, exactly as PyTorch's
 *   single-tensor implementations write them (see src/compile/kernels/optimizer.ts).
 * - Optimizer state (momentum buffers, Adam moments…) lives on the device as extra *parameters* of the Program
 *   under the path `__optimizer__/<slot>/<param path>` (slot = PyTorch's state name, e.g. `exp_avg`): the executor
 *   uploads them with the model's parameters (zeros to start, a checkpoint's values to resume) and downloads them
 *   with them, so checkpoints need nothing else.
 * - The learning rate and what depends on the step count are per-step scalar inputs of the Program
 *   (`optimizer/lr`, …; their values for a step: `stepScalars`), gathered by one tiny kernel into the buffer the
 *   updates read: a schedule never recompiles anything.
 * - Gradient-norm clipping: the global L2 norm over all gradients by tree reductions, then every gradient is
 *   scaled by `min(1, maxNorm / (norm + 1e-6))` as `torch.nn.utils.clip_grad_norm_`.
 * - When the Program names its loss buffer, the update is skipped unless the loss is finite (and, with clipping,
 *   the gradient norm): a non-finite step leaves parameters and state untouched.
 *
 * @example
 * const opt = withOptimizer(trainProgram, { optimizer: { kind: 'adamw', lr: 1e-3 }, clipGradNorm: 5 });
 * // each step: run with scalars stepScalars(opt.right.layout.resolved.rule, t, lr)
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Shape, numel } from '../ir/shape.ts';
import type { Kernel } from './kernel.ts';
import { copyKernel } from './kernels/elementwise.ts';
import { HYPER, HYPER_LENGTH, type UpdateRule, clipScaleKernel, packHyperKernel, stateSlots, sumSquaresGroups, sumSquaresKernel, updateKernel } from './kernels/optimizer.ts';
import type { BufferSpec, Dispatch, Program, ProgramParam, ProgramScalar } from './program.ts';

export { HYPER, HYPER_LENGTH, type UpdateRule, stateSlots } from './kernels/optimizer.ts';

/** An optimizer as a user writes it; omitted fields take PyTorch's defaults. */
export type OptimizerSpec =
  | { readonly kind: 'sgd'; readonly lr: number; readonly momentum?: number; readonly dampening?: number; readonly nesterov?: boolean; readonly weightDecay?: number }
  | { readonly kind: 'adam'; readonly lr?: number; readonly betas?: readonly [number, number]; readonly eps?: number; readonly weightDecay?: number }
  | { readonly kind: 'adamw'; readonly lr?: number; readonly betas?: readonly [number, number]; readonly eps?: number; readonly weightDecay?: number }
  | { readonly kind: 'adadelta'; readonly lr?: number; readonly rho?: number; readonly eps?: number; readonly weightDecay?: number };

export type OptimizerKind = OptimizerSpec['kind'];

/** An optimizer with every default filled in: its base learning rate and its update rule. */
export interface ResolvedOptimizer {
  readonly lr: number;
  readonly rule: UpdateRule;
}

export interface OptimizerOptions {
  readonly optimizer: OptimizerSpec;
  /** Clip the global gradient L2 norm to this value (torch.nn.utils.clip_grad_norm_); absent: no clipping. */
  readonly clipGradNorm?: number;
  /**
   * Also undo a non-finite step's changes to the Program's non-trained parameters (BatchNorm running statistics,
   * which the forward pass updates before the loss is known): they are copied aside at the start of the step and
   * copied back at the end when the loss is not finite. Two small dispatches per such parameter; for training
   * that skips non-finite steps. Needs the Program's loss buffer.
   */
  readonly restoreBuffersOnNonFinite?: boolean;
}

export type OptimizerError =
  | { readonly tag: 'InvalidHyperparameter'; readonly field: string; readonly message: string }
  | { readonly tag: 'NoGradients'; readonly message: string }
  | { readonly tag: 'BadGradient'; readonly path: string; readonly message: string };

/** A gradient of a training Program: the parameter's buffer and its gradient's buffer (same shape). */
export interface GradBuffer {
  readonly path: string;
  readonly param: number;
  readonly grad: number;
  readonly shape: Shape;
}

/** What `withOptimizer` needs of a training Program: its gradients and (optionally) its loss buffer. */
export type TrainableProgram = Program & { readonly grads: readonly GradBuffer[]; readonly loss?: number };

/** One optimizer state tensor of one parameter, on the device as a Program parameter. */
export interface StateBuffer {
  /** The parameter it belongs to. */
  readonly param: string;
  /** PyTorch's name of the state ('momentum_buffer', 'exp_avg', 'exp_avg_sq', 'square_avg', 'acc_delta'). */
  readonly slot: string;
  /** Its path among the Program's parameters: `__optimizer__/<slot>/<param>`. */
  readonly path: string;
  readonly buffer: number;
  readonly shape: Shape;
}

/** Where `withOptimizer` put things. */
export interface OptimizerLayout {
  readonly resolved: ResolvedOptimizer;
  /** The buffer the updates read the per-step scalars from (`HYPER_LENGTH` f32, filled from the scalar inputs). */
  readonly hyper: number;
  readonly state: readonly StateBuffer[];
  /** With clipping: a buffer holding `[scale, norm]` after each step. */
  readonly clip?: number;
}

/** The path prefix of optimizer state among a Program's parameters. */
export const OPTIMIZER_PREFIX = '__optimizer__/';

/** The parameter path of `slot` of parameter `param`. */
export const statePath = (slot: string, param: string): string => `${OPTIMIZER_PREFIX}${slot}/${param}`;

const pad4 = (bytes: number): number => Math.max(4, Math.ceil(bytes / 4) * 4);

/**
 * PyTorch's defaults filled in, or every invalid hyperparameter (PyTorch's own checks: lr ≥ 0, momentum ≥ 0,
 * 0 ≤ β < 1, eps ≥ 0, weight decay ≥ 0, Nesterov only with momentum > 0 and dampening 0, 0 ≤ ρ ≤ 1).
 *
 * @example
 * resolveOptimizer({ kind: 'adam' }); // right({ lr: 0.001, rule: { kind: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } })
 */
export const resolveOptimizer = (spec: OptimizerSpec): E.Either<readonly OptimizerError[], ResolvedOptimizer> => {
  const errors: OptimizerError[] = [];
  const check = (field: string, v: number, ok: boolean, want: string): void => {
    if (!(Number.isFinite(v) && ok)) errors.push({ tag: 'InvalidHyperparameter', field, message: `${spec.kind}: ${field} must be ${want}, got ${v}` });
  };
  let resolved: ResolvedOptimizer;
  switch (spec.kind) {
    case 'sgd': {
      const momentum = spec.momentum ?? 0;
      const dampening = spec.dampening ?? 0;
      const nesterov = spec.nesterov ?? false;
      const weightDecay = spec.weightDecay ?? 0;
      check('lr', spec.lr, spec.lr >= 0, 'a non-negative number');
      check('momentum', momentum, momentum >= 0, 'a non-negative number');
      check('dampening', dampening, dampening >= 0 && dampening <= 1, 'in [0, 1]');
      check('weightDecay', weightDecay, weightDecay >= 0, 'a non-negative number');
      if (nesterov && (momentum <= 0 || dampening !== 0)) {
        errors.push({ tag: 'InvalidHyperparameter', field: 'nesterov', message: `sgd: Nesterov momentum requires a momentum > 0 and zero dampening (momentum ${momentum}, dampening ${dampening})` });
      }
      resolved = { lr: spec.lr, rule: { kind: 'sgd', momentum, dampening, nesterov, weightDecay } };
      break;
    }
    case 'adam':
    case 'adamw': {
      const lr = spec.lr ?? 1e-3;
      const [beta1, beta2] = spec.betas ?? [0.9, 0.999];
      const eps = spec.eps ?? 1e-8;
      const weightDecay = spec.weightDecay ?? (spec.kind === 'adamw' ? 1e-2 : 0);
      check('lr', lr, lr >= 0, 'a non-negative number');
      check('betas[0]', beta1, beta1 >= 0 && beta1 < 1, 'in [0, 1)');
      check('betas[1]', beta2, beta2 >= 0 && beta2 < 1, 'in [0, 1)');
      check('eps', eps, eps >= 0, 'a non-negative number');
      check('weightDecay', weightDecay, weightDecay >= 0, 'a non-negative number');
      resolved = { lr, rule: { kind: spec.kind, beta1, beta2, eps, weightDecay } };
      break;
    }
    case 'adadelta': {
      const lr = spec.lr ?? 1;
      const rho = spec.rho ?? 0.9;
      const eps = spec.eps ?? 1e-6;
      const weightDecay = spec.weightDecay ?? 0;
      check('lr', lr, lr >= 0, 'a non-negative number');
      check('rho', rho, rho >= 0 && rho <= 1, 'in [0, 1]');
      check('eps', eps, eps >= 0, 'a non-negative number');
      check('weightDecay', weightDecay, weightDecay >= 0, 'a non-negative number');
      resolved = { lr, rule: { kind: 'adadelta', rho, eps, weightDecay } };
      break;
    }
    default: {
      const never: never = spec;
      throw new Error(`unknown optimizer ${JSON.stringify(never)}`);
    }
  }
  return errors.length > 0 ? E.left(errors) : E.right(resolved);
};

/** The names of the optimizer's per-step scalar inputs, in `HYPER` slot order. */
export const HYPER_SCALARS: readonly string[] = ['optimizer/lr', 'optimizer/stepSize', 'optimizer/bc2Sqrt', 'optimizer/first', 'optimizer/decay'];

/**
 * The values of the per-step scalars of optimizer step `t` (1-based, as PyTorch's `state['step']` after its
 * increment) at learning rate `lr`, by scalar name. Computed in float64, as PyTorch computes these Python scalars.
 *
 * @example
 * stepScalars({ kind: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, 1, 1e-3);
 * // { 'optimizer/lr': 0.001, 'optimizer/stepSize': 0.01, 'optimizer/bc2Sqrt': 0.0316…, 'optimizer/first': 1, 'optimizer/decay': 1 }
 */
export const stepScalars = (rule: UpdateRule, t: number, lr: number): Readonly<Record<string, number>> => {
  const h = new Array<number>(HYPER_SCALARS.length).fill(0);
  h[HYPER.lr] = lr;
  h[HYPER.first] = t === 1 ? 1 : 0;
  h[HYPER.stepSize] = lr;
  h[HYPER.bc2Sqrt] = 1;
  h[HYPER.decay] = 1;
  if (rule.kind === 'adam' || rule.kind === 'adamw') {
    h[HYPER.stepSize] = lr / (1 - rule.beta1 ** t);
    h[HYPER.bc2Sqrt] = Math.sqrt(1 - rule.beta2 ** t);
    if (rule.kind === 'adamw') h[HYPER.decay] = 1 - lr * rule.weightDecay;
  }
  return Object.fromEntries(HYPER_SCALARS.map((name, j) => [name, h[j]!]));
};

/**
 * `program` followed by the optimizer step: new buffers (state as parameters, the per-step scalars, the clip
 * scratch), kernels and dispatches are appended; nothing of the original Program changes, so the buffer ids of
 * its inputs, outputs and gradients stay valid. Errors: invalid hyperparameters, no gradients, a gradient whose
 * buffer or shape does not fit its parameter.
 *
 * @example
 * const r = withOptimizer(trainProgram, { optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true } });
 * if (E.isRight(r)) r.right.layout.state.map((s) => s.path); // ['__optimizer__/momentum_buffer/fc/weight', …]
 */
// Longer than 80 lines: one linear pass appending buffers and dispatches in program order (scalars, norm, updates,
// backups); its parts share the growing buffer and kernel lists, and read best top to bottom.
export const withOptimizer = <P extends TrainableProgram>(
  program: P,
  options: OptimizerOptions,
): E.Either<readonly OptimizerError[], { readonly program: P; readonly layout: OptimizerLayout }> => {
  const errors: OptimizerError[] = [];
  const resolved = resolveOptimizer(options.optimizer);
  if (E.isLeft(resolved)) errors.push(...resolved.left);
  const maxNorm = options.clipGradNorm;
  if (maxNorm !== undefined && !(Number.isFinite(maxNorm) && maxNorm > 0)) {
    errors.push({ tag: 'InvalidHyperparameter', field: 'clipGradNorm', message: `clipGradNorm must be a positive number, got ${maxNorm}` });
  }
  if (program.grads.length === 0) errors.push({ tag: 'NoGradients', message: 'the training program has no trainable parameters to update' });
  for (const g of program.grads) {
    const pb = program.buffers[g.param];
    const gb = program.buffers[g.grad];
    const bytes = numel(g.shape) * 4;
    // The update kernel walks its parameter's whole buffer (one pipeline serves every size), so it must be exact.
    if (pb === undefined || gb === undefined || pb.bytes !== bytes || gb.bytes < bytes) {
      errors.push({ tag: 'BadGradient', path: g.path, message: `gradient of '${g.path}': buffers ${g.param}/${g.grad} do not hold exactly [${g.shape.join(', ')}]` });
    }
  }
  if (errors.length > 0 || E.isLeft(resolved)) return E.left(errors);
  const rule = resolved.right.rule;

  const buffers: BufferSpec[] = [...program.buffers];
  const kernels: Kernel[] = [...program.kernels];
  const dispatches: Dispatch[] = [...program.dispatches];
  const params: ProgramParam[] = [...program.params];
  const kernelIds = new Map(kernels.map((k, i) => [k.wgsl, i]));
  const newBuffer = (bytes: number, role: BufferSpec['role'], label: string, paramPath?: string): number => {
    const id = buffers.length;
    buffers.push({ id, bytes: pad4(bytes), role, label, ...(paramPath === undefined ? {} : { paramPath }) });
    return id;
  };
  const updateFrom = dispatches.length;
  const dispatch = (k: Kernel, bufs: readonly number[]): void => {
    let id = kernelIds.get(k.wgsl);
    if (id === undefined) {
      id = kernels.length;
      kernels.push(k);
      kernelIds.set(k.wgsl, id);
    }
    dispatches.push({ kernel: id, buffers: bufs, workgroups: k.workgroups, label: k.label });
  };

  const scalars: ProgramScalar[] = [...program.scalars];
  const hyperInputs = HYPER_SCALARS.map((name) => {
    const buffer = newBuffer(4, 'scalar', `scalar '${name}'`);
    scalars.push({ name, buffer, type: 'f32' });
    return buffer;
  });
  const hyper = newBuffer(HYPER_LENGTH * 4, 'scratch', 'optimizer step scalars');
  dispatch(packHyperKernel({ label: 'optimizer step scalars', slots: HYPER_SCALARS.length }), [...hyperInputs, hyper]);
  let clip: number | undefined;
  if (maxNorm !== undefined) {
    const groups = program.grads.map((g) => sumSquaresGroups(numel(g.shape)));
    const total = groups.reduce((a, b) => a + b, 0);
    const partial = newBuffer(total * 4, 'scratch', 'gradient norm partial sums');
    clip = newBuffer(8, 'scratch', 'gradient clip [scale, norm]');
    let offset = 0;
    program.grads.forEach((g, j) => {
      dispatch(sumSquaresKernel({ label: `gradient norm of ${g.path}`, n: numel(g.shape), groups: groups[j]!, offset }), [g.grad, partial]);
      offset += groups[j]!;
    });
    dispatch(clipScaleKernel({ label: 'gradient norm clipping', partials: total, maxNorm }), [partial, clip]);
  }
  const slots = stateSlots(rule);
  const state: StateBuffer[] = [];
  for (const g of program.grads) {
    const own = slots.map((slot) => {
      const path = statePath(slot, g.path);
      const buffer = newBuffer(numel(g.shape) * 4, 'param', path, path);
      params.push({ path, buffer, shape: g.shape });
      state.push({ param: g.path, slot, path, buffer, shape: g.shape });
      return buffer;
    });
    const k = updateKernel({ label: `${rule.kind} update of ${g.path}`, n: numel(g.shape), rule, clip: clip !== undefined, guardLoss: program.loss !== undefined });
    dispatch(k, [g.param, g.grad, ...own, hyper, ...(clip === undefined ? [] : [clip]), ...(program.loss === undefined ? [] : [program.loss])]);
  }
  // Non-trained parameters (running statistics) backed up before the step, restored after a non-finite one.
  const prologue: Dispatch[] = [];
  if (options.restoreBuffersOnNonFinite === true && program.loss !== undefined) {
    const trained = new Set(program.grads.map((g) => g.path));
    for (const q of program.params) {
      if (trained.has(q.path)) continue;
      const n = numel(q.shape);
      const backup = newBuffer(n * 4, 'scratch', `backup of ${q.path}`);
      const save = copyKernel(`back up ${q.path}`, n);
      dispatch(save, [q.buffer, backup]);
      prologue.push(dispatches.pop()!);
      dispatch(copyKernel(`restore ${q.path} after a non-finite loss`, n, { unlessFinite: true }), [backup, q.buffer, program.loss]);
    }
  }
  const layout: OptimizerLayout = { resolved: resolved.right, hyper, state, ...(clip === undefined ? {} : { clip }) };
  return E.right({ program: { ...program, buffers, kernels, dispatches: [...prologue, ...dispatches], params, scalars, updateFrom: updateFrom + prologue.length }, layout });
};
