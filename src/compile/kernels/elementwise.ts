/**
 * Elementwise kernels: one thread per output element computing an expression of its inputs, followed by an
 * epilogue of fused elementwise steps (activations, scaling, residual adds). One generator serves add, mul,
 * the activations, scale, copies, zero fills and BatchNorm's inference form (per-channel inputs).
 */
import type { Binding, Kernel } from '../kernel.ts';
import { type Activation, activationExpr, elementwiseModule, f32, u32 } from './wgsl.ts';

/** How an input is indexed by the flat output index `i`: elementwise, or one value per channel. */
export type EwIndex =
  | { readonly kind: 'flat' }
  /** `x[(i / inner) % channels]`: per-channel vectors such as BatchNorm statistics. */
  | { readonly kind: 'channel'; readonly channels: number; readonly inner: number };

/** One fused step applied to the running value `r`. 'add' consumes the next residual input. */
export type EpilogueStep =
  | { readonly kind: 'act'; readonly act: Activation }
  | { readonly kind: 'scale'; readonly factor: number }
  | { readonly kind: 'add' };

export interface EwSpec {
  readonly label: string;
  /** Output elements. */
  readonly n: number;
  /** Inputs `v0, v1, …` of `expr`, bound in order before the residuals. */
  readonly inputs: readonly EwIndex[];
  /** WGSL f32 expression of `v0…`; with `accumulate`, `acc` is the output's current value. */
  readonly expr: string;
  readonly accumulate?: boolean;
  /** Fused steps; every 'add' step binds one more flat input after `inputs`. */
  readonly epilogue?: readonly EpilogueStep[];
}

/** WGSL applying one epilogue step to `r` (`res` names the residual value for 'add'). */
export const epilogueStmt = (s: EpilogueStep, res: string): string => {
  switch (s.kind) {
    case 'act':
      return `r = ${activationExpr(s.act, 'r')};`;
    case 'scale':
      return `r = r * ${f32(s.factor)};`;
    case 'add':
      return `r = r + ${res};`;
  }
};

/** A short name of an epilogue, for labels ('+relu', '+add'). */
export const epilogueName = (steps: readonly EpilogueStep[]): string =>
  steps.map((s) => `+${s.kind === 'act' ? s.act : s.kind}`).join('');

/**
 * The kernel of an elementwise spec. Bindings: `x0…` (inputs), `res0…` (residuals), `out`.
 *
 * @example
 * ewKernel({ label: 'add at a', n: 64, inputs: [{ kind: 'flat' }, { kind: 'flat' }], expr: 'v0 + v1', epilogue: [{ kind: 'act', act: 'relu' }] });
 */
export const ewKernel = (s: EwSpec): Kernel => {
  const steps = s.epilogue ?? [];
  const nres = steps.filter((st) => st.kind === 'add').length;
  const bindings: Binding[] = [
    ...s.inputs.map((_, j) => ({ name: `x${j}`, access: 'read' as const })),
    ...Array.from({ length: nres }, (_, j) => ({ name: `res${j}`, access: 'read' as const })),
    { name: 'out', access: 'read_write' },
  ];
  const loads = s.inputs
    .map((ix, j) =>
      ix.kind === 'flat' ? `let v${j} = x${j}[i];` : `let v${j} = x${j}[(i / ${u32(ix.inner)}) % ${u32(ix.channels)}];`,
    )
    .join('\n  ');
  let r = 0;
  const post = steps.map((st) => epilogueStmt(st, st.kind === 'add' ? `res${r++}[i]` : '')).join('\n  ');
  const body = `${loads}
  ${s.accumulate === true ? 'let acc = out[i];' : ''}
  var r: f32 = ${s.expr};
  ${post}
  out[i] = r;`;
  return elementwiseModule({ label: s.label, bindings, n: s.n, body });
};

/** Sum of `k` flat inputs (plus the output's value when accumulating). */
export const addExpr = (k: number, accumulate: boolean): string =>
  [...(accumulate ? ['acc'] : []), ...Array.from({ length: k }, (_, j) => `v${j}`)].join(' + ') || '0.0';

/**
 * Copies `n` elements (into an output buffer, a backup of a buffer); with `unlessFinite`, a third binding `loss`
 * and the copy happens only when `loss[0]` is NOT finite (the restore half of a backup/restore pair around an
 * optimizer step). The one flat copy kernel; strided copies are `stridedCopyKernel`'s. Bindings: x0, out[, loss].
 *
 * @example
 * copyKernel('copy output 0', 640);
 * copyKernel('restore bn/running_mean after a non-finite loss', 16, { unlessFinite: true });
 */
export const copyKernel = (label: string, n: number, o: { readonly unlessFinite?: boolean } = {}): Kernel =>
  o.unlessFinite === true
    ? elementwiseModule({
        label,
        bindings: [
          { name: 'x0', access: 'read' },
          { name: 'out', access: 'read_write' },
          { name: 'loss', access: 'read' },
        ],
        n,
        extra: 'fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }\n',
        body: 'if (is_finite(loss[0])) { return; }\n  out[i] = x0[i];',
      })
    : ewKernel({ label, n, inputs: [{ kind: 'flat' }], expr: 'v0' });

/** Fills `n` elements with zeros (DARTS' "none" op). */
export const zeroKernel = (label: string, n: number): Kernel =>
  elementwiseModule({ label, bindings: [{ name: 'out', access: 'read_write' }], n, body: 'out[i] = 0.0;' });

/** A strided copy's geometry: see `stridedCopyKernel`. */
export interface StridedCopy {
  readonly label: string;
  readonly rows: number;
  readonly src: readonly number[];
  readonly dst: readonly number[];
  readonly window: readonly number[];
  readonly srcStart: readonly number[];
  readonly srcStep: readonly number[];
  readonly dstStart: readonly number[];
  readonly dstStep: readonly number[];
  readonly zeroElsewhere: boolean;
}

/** Row-major strides of a shape. */
const stridesOf = (shape: readonly number[]): readonly number[] => shape.map((_, a) => shape.slice(a + 1).reduce((p, d) => p * d, 1));

/**
 * One strided copy: for each of `rows` samples, the `window` (a per-sample box of `numel(window)` elements, multi-
 * index w) moves from `x` (per-sample shape `src`) at `srcStart + w·srcStep` to `out` (per-sample shape `dst`) at
 * `dstStart + w·dstStep`, axis by axis. With `zeroElsewhere` every element of `out` is written (one invocation per
 * destination element, zero off the window's lattice; no second pass, no atomics); without it only the window's.
 * It is the one copy kernel behind slices (`slice`, `sliceChannels`), their gradients (`sliceGrad`) and
 * concatenation (one dispatch per input, placed at its channel offset). Bindings: x, out.
 *
 * @example
 * // x[:, :, 1::2, 1::2] of a [B, 4, 8, 8] map:
 * stridedCopyKernel({ label: 'slice', rows: B, src: [4, 8, 8], dst: [4, 4, 4], window: [4, 4, 4],
 *   srcStart: [0, 1, 1], srcStep: [1, 2, 2], dstStart: [0, 0, 0], dstStep: [1, 1, 1], zeroElsewhere: false });
 */
export const stridedCopyKernel = (c: StridedCopy): Kernel => {
  const numelOf = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);
  const [srcN, dstN, winN] = [numelOf(c.src), numelOf(c.dst), numelOf(c.window)];
  const [ss, ds] = [stridesOf(c.src), stridesOf(c.dst)];
  const axes = c.window.map((_, a) => a);
  const bindings = [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ] as const;
  /** `idx` split into per-axis indices `${v}0, ${v}1, …` of `shape` (row-major). */
  const split = (v: string, shape: readonly number[]): string =>
    axes.map((a) => `let ${v}${a} = (rem / ${u32(stridesOf(shape)[a]!)}) % ${u32(shape[a]!)};`).join('\n  ');
  const srcAt = axes.map((a) => `(${u32(c.srcStart[a]!)} + w${a} * ${u32(c.srcStep[a]!)}) * ${u32(ss[a]!)}`).join(' + ') || '0u';
  if (!c.zeroElsewhere) {
    const dstAt = axes.map((a) => `(${u32(c.dstStart[a]!)} + w${a} * ${u32(c.dstStep[a]!)}) * ${u32(ds[a]!)}`).join(' + ') || '0u';
    return elementwiseModule({
      label: c.label,
      bindings,
      n: c.rows * winN,
      body: `let r = i / ${u32(winN)};
  let rem = i % ${u32(winN)};
  ${split('w', c.window)}
  out[r * ${u32(dstN)} + ${dstAt}] = x[r * ${u32(srcN)} + ${srcAt}];`,
    });
  }
  // Per destination element: on the lattice dstStart + w·dstStep with w inside the window on every axis?
  const lattice = axes
    .map(
      (a) => `let t${a} = i32(d${a}) - ${c.dstStart[a]!}i;
  let w${a} = u32(max(t${a}, 0i)) / ${u32(c.dstStep[a]!)};
  on = on && t${a} >= 0i && u32(t${a}) % ${u32(c.dstStep[a]!)} == 0u && w${a} < ${u32(c.window[a]!)};`,
    )
    .join('\n  ');
  return elementwiseModule({
    label: c.label,
    bindings,
    n: c.rows * dstN,
    body: `let r = i / ${u32(dstN)};
  let rem = i % ${u32(dstN)};
  ${split('d', c.dst)}
  var on = true;
  ${lattice}
  var v = 0.0;
  if (on) { v = x[r * ${u32(srcN)} + ${srcAt}]; }
  out[i] = v;`,
  });
};

/**
 * Copies a `[batch, c, inner]` tensor into channels `offset…offset+c` of a `[batch, total, inner]` one
 * (one dispatch per concatenated input): a strided copy of the whole input.
 */
export const concatSliceKernel = (label: string, batch: number, c: number, inner: number, total: number, offset: number): Kernel =>
  stridedCopyKernel({
    label,
    rows: batch,
    src: [c, inner],
    dst: [total, inner],
    window: [c, inner],
    srcStart: [0, 0],
    srcStep: [1, 1],
    dstStart: [offset, 0],
    dstStep: [1, 1],
    zeroElsewhere: false,
  });
