/**
 * WGSL kernels of the optimizer step, appended after a training Program's backward pass:
 *
 * - `sumSquaresKernel`: the partial sums of squares of one gradient (a few workgroups, tree reductions), the first
 *   half of the global gradient L2 norm;
 * - `clipScaleKernel`: sums every partial in a fixed order (deterministic), takes the square root and writes
 *   `[scale, norm]` with `scale = min(1, maxNorm / (norm + 1e-6))`, as `torch.nn.utils.clip_grad_norm_`;
 * - `updateKernel`: one thread per element of one parameter, applying PyTorch's update rule of SGD (momentum,
 *   dampening, Nesterov, weight decay), Adam, AdamW or Adadelta, with the optimizer state in place.
 *
 * Hyperparameters that never change are WGSL constants; those that change per step (the learning rate and what
 * derives from it and from the step count) are read from a small run-time buffer laid out as `HYPER` says.
 * When the Program has a loss buffer (or a clip norm), the update skips itself unless they are finite, so a
 * non-finite step leaves parameters and state as they were.
 */
import type { Binding, Kernel } from '../kernel.ts';
import { workgroupTreeWgsl } from './reduce.ts';
import { bindingDecls, f32, gridFor, u32 } from './wgsl.ts';

/** Slots of the per-step hyperparameter buffer (f32). */
export const HYPER = {
  /** The learning rate of this step. */
  lr: 0,
  /** Adam/AdamW: lr / (1 − β1^t). */
  stepSize: 1,
  /** Adam/AdamW: √(1 − β2^t). */
  bc2Sqrt: 2,
  /** SGD: 1 on the first step (the momentum buffer starts as the gradient), else 0. */
  first: 3,
  /** AdamW: 1 − lr·weightDecay (the decoupled decay factor). */
  decay: 4,
} as const;
/** Length of the hyperparameter buffer in f32 values. */
export const HYPER_LENGTH = 8;

/**
 * Bindings: the one-element scalar buffers of `HYPER`'s slots in slot order (read), hyper (read_write): gathers
 * the per-step scalars the runtime wrote into the one buffer the updates read.
 *
 * @example
 * packHyperKernel({ label: 'optimizer step scalars', slots: 5 });
 */
export const packHyperKernel = (s: { readonly label: string; readonly slots: number }): Kernel => {
  const bindings: readonly Binding[] = [
    ...Array.from({ length: s.slots }, (_, j) => ({ name: `h${j}`, access: 'read' as const })),
    { name: 'hyper', access: 'read_write' },
  ];
  const wgsl = `${bindingDecls(bindings)}

@compute @workgroup_size(1)
fn main() {
${Array.from({ length: s.slots }, (_, j) => `  hyper[${j}] = h${j}[0];`).join('\n')}
}
`;
  return { label: s.label, wgsl, entryPoint: 'main', bindings, workgroups: [1, 1, 1] };
};

/** An update rule with every default filled in (see src/compile/optimizer.ts). */
export type UpdateRule =
  | { readonly kind: 'sgd'; readonly momentum: number; readonly dampening: number; readonly nesterov: boolean; readonly weightDecay: number }
  | { readonly kind: 'adam' | 'adamw'; readonly beta1: number; readonly beta2: number; readonly eps: number; readonly weightDecay: number }
  | { readonly kind: 'adadelta'; readonly rho: number; readonly eps: number; readonly weightDecay: number };

/** The optimizer state tensors of a rule, by their PyTorch state_dict names, in binding order. */
export const stateSlots = (r: UpdateRule): readonly string[] => {
  switch (r.kind) {
    case 'sgd':
      return r.momentum === 0 ? [] : ['momentum_buffer'];
    case 'adam':
    case 'adamw':
      return ['exp_avg', 'exp_avg_sq'];
    case 'adadelta':
      return ['square_avg', 'acc_delta'];
    default: {
      const never: never = r;
      throw new Error(`unknown rule ${JSON.stringify(never)}`);
    }
  }
};

const WG = 256;

const FINITE = /* wgsl */ `
fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
`;

/** Workgroups for the partial sums of a gradient of `n` values: enough to keep a few cores busy, at most 64. */
export const sumSquaresGroups = (n: number): number => Math.max(1, Math.min(64, Math.ceil(n / (WG * 16))));

const treeReduce = workgroupTreeWgsl(WG);

/**
 * Bindings: g (read), partial (read_write). Workgroup `w` of `groups` writes Σ g² over its strided share into
 * `partial[offset + w]`.
 *
 * @example
 * sumSquaresKernel({ label: 'grad norm of fc/weight', n: 1280, groups: 1, offset: 3 });
 */
export const sumSquaresKernel = (s: { readonly label: string; readonly n: number; readonly groups: number; readonly offset: number }): Kernel => {
  const bindings: readonly Binding[] = [
    { name: 'g', access: 'read' },
    { name: 'partial', access: 'read_write' },
  ];
  const wgsl = `${bindingDecls(bindings)}
var<workgroup> red: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = wid.x * ${u32(WG)} + lid.x; i < ${u32(s.n)}; i += ${u32(s.groups * WG)}) {
    let v = g[i];
    acc += v * v;
  }
  red[lid.x] = acc;
  workgroupBarrier();
  ${treeReduce}
  if (lid.x == 0u) { partial[${u32(s.offset)} + wid.x] = red[0]; }
}
`;
  return { label: s.label, wgsl, entryPoint: 'main', bindings, workgroups: [s.groups, 1, 1] };
};

/**
 * Bindings: partial (read), clip (read_write): `clip[0] = min(1, maxNorm / (norm + 1e-6))`, `clip[1] = norm`
 * where norm = √Σ partial. One workgroup; a NaN norm gives a NaN scale (as PyTorch without error_if_nonfinite).
 *
 * @example
 * clipScaleKernel({ label: 'grad norm clip', partials: 12, maxNorm: 5 });
 */
export const clipScaleKernel = (s: { readonly label: string; readonly partials: number; readonly maxNorm: number }): Kernel => {
  const bindings: readonly Binding[] = [
    { name: 'partial', access: 'read' },
    { name: 'clip', access: 'read_write' },
  ];
  const wgsl = `${bindingDecls(bindings)}
var<workgroup> red: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < ${u32(s.partials)}; i += ${u32(WG)}) { acc += partial[i]; }
  red[lid.x] = acc;
  workgroupBarrier();
  ${treeReduce}
  if (lid.x == 0u) {
    let norm = sqrt(red[0]);
    clip[0] = min(${f32(s.maxNorm)} / (norm + 1e-6), 1.0);
    clip[1] = norm;
  }
}
`;
  return { label: s.label, wgsl, entryPoint: 'main', bindings, workgroups: [1, 1, 1] };
};

export interface UpdateSpec {
  readonly label: string;
  /** Elements of the parameter: its buffer must hold exactly these (the kernel updates the whole buffer). */
  readonly n: number;
  readonly rule: UpdateRule;
  /** Multiply gradients by `clip[0]` (and skip the step when the norm `clip[1]` is not finite). */
  readonly clip: boolean;
  /** Skip the step when `loss[0]` is not finite. */
  readonly guardLoss: boolean;
}

/** The WGSL statements of one rule: in `p0` (param), `g` (gradient after clipping), out `p[i]`, state in place. */
const ruleBody = (r: UpdateRule): string => {
  const wd = r.weightDecay !== 0 && r.kind !== 'adamw' ? `g = g + ${f32(r.weightDecay)} * p0;` : '';
  switch (r.kind) {
    case 'sgd': {
      if (r.momentum === 0) return `${wd}\n  p[i] = p0 - hyper[${HYPER.lr}] * g;`;
      // PyTorch: buf = g on the first step, then buf = momentum·buf + (1 − dampening)·g.
      const next = `select(${f32(r.momentum)} * s0[i] + ${f32(1 - r.dampening)} * g, g, hyper[${HYPER.first}] > 0.5)`;
      const dir = r.nesterov ? `g + ${f32(r.momentum)} * b` : 'b';
      return `${wd}
  let b = ${next};
  s0[i] = b;
  p[i] = p0 - hyper[${HYPER.lr}] * (${dir});`;
    }
    case 'adam':
    case 'adamw': {
      const decay = r.kind === 'adamw' && r.weightDecay !== 0 ? `let pd = p0 * hyper[${HYPER.decay}];` : 'let pd = p0;';
      // exp_avg.lerp_(g, 1 − β1); exp_avg_sq.mul_(β2).addcmul_(g, g, 1 − β2);
      // denom = √v / √(1 − β2^t) + eps; p.addcdiv_(m, denom, −lr / (1 − β1^t)).
      return `${wd}
  ${decay}
  let m0 = s0[i];
  let m = m0 + ${f32(1 - r.beta1)} * (g - m0);
  let v = s1[i] * ${f32(r.beta2)} + ${f32(1 - r.beta2)} * g * g;
  s0[i] = m;
  s1[i] = v;
  let denom = sqrt(v) / hyper[${HYPER.bc2Sqrt}] + ${f32(r.eps)};
  p[i] = pd - hyper[${HYPER.stepSize}] * (m / denom);`;
    }
    case 'adadelta':
      // square_avg = ρ·sa + (1 − ρ)·g²; delta = √(acc + eps) / √(sa + eps) · g; acc = ρ·acc + (1 − ρ)·delta².
      return `${wd}
  let sa = s0[i] * ${f32(r.rho)} + ${f32(1 - r.rho)} * g * g;
  let delta = sqrt(s1[i] + ${f32(r.eps)}) / sqrt(sa + ${f32(r.eps)}) * g;
  s0[i] = sa;
  s1[i] = s1[i] * ${f32(r.rho)} + ${f32(1 - r.rho)} * delta * delta;
  p[i] = p0 - hyper[${HYPER.lr}] * delta;`;
    default: {
      const never: never = r;
      throw new Error(`unknown rule ${JSON.stringify(never)}`);
    }
  }
};

/**
 * The update of one parameter. Bindings: p (read_write), grad (read), s0, s1… (state, read_write), hyper (read),
 * clip (read, when `clip`), loss (read, when `guardLoss`).
 *
 * @example
 * updateKernel({ label: 'adam at fc/weight', n: 1280, rule: { kind: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, clip: false, guardLoss: true });
 */
export const updateKernel = (s: UpdateSpec): Kernel => {
  const slots = stateSlots(s.rule);
  const bindings: Binding[] = [
    { name: 'p', access: 'read_write' },
    { name: 'grad', access: 'read' },
    ...slots.map((_, j) => ({ name: `s${j}`, access: 'read_write' as const })),
    { name: 'hyper', access: 'read' },
  ];
  if (s.clip) bindings.push({ name: 'clip', access: 'read' });
  if (s.guardLoss) bindings.push({ name: 'loss', access: 'read' });
  const guards = [...(s.clip ? ['is_finite(clip[1])'] : []), ...(s.guardLoss ? ['is_finite(loss[0])'] : [])];
  const grid = gridFor(s.n, 64);
  // The source does not depend on the parameter's size (it reads the length of its buffer and the grid's width),
  // so every parameter of a model shares one pipeline per rule: compiling pipelines is what costs on lavapipe.
  const wgsl = `${FINITE}
${bindingDecls(bindings)}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (i >= arrayLength(&p)) { return; }
  ${guards.length > 0 ? `if (!(${guards.join(' && ')})) { return; }` : ''}
  let p0 = p[i];
  var g = ${s.clip ? 'grad[i] * clip[0]' : 'grad[i]'};
  ${ruleBody(s.rule)}
}
`;
  return { label: s.label, wgsl, entryPoint: 'main', bindings, workgroups: grid };
};
