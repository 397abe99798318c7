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

/** Copies `n` elements (e.g. into an output buffer). */
export const copyKernel = (label: string, n: number): Kernel => ewKernel({ label, n, inputs: [{ kind: 'flat' }], expr: 'v0' });

/** Fills `n` elements with zeros (DARTS' "none" op). */
export const zeroKernel = (label: string, n: number): Kernel =>
  elementwiseModule({ label, bindings: [{ name: 'out', access: 'read_write' }], n, body: 'out[i] = 0.0;' });

/**
 * Copies a `[batch, c, inner]` tensor into channels `offset…offset+c` of a `[batch, total, inner]` one
 * (one dispatch per concatenated input).
 */
export const concatSliceKernel = (label: string, batch: number, c: number, inner: number, total: number, offset: number): Kernel =>
  elementwiseModule({
    label,
    bindings: [
      { name: 'x', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: batch * c * inner,
    body: `let per = ${u32(c * inner)};
  let b = i / per;
  let rest = i % per;
  out[b * ${u32(total * inner)} + ${u32(offset * inner)} + rest] = x[i];`,
  });
