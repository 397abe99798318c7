// Shared by the ENAS tests: small random search spaces, controller settings and parameters (fast-check), and a
// central finite-difference gradient over every parameter tensor.
import fc from 'fast-check';
import type { Decision, SearchSpace } from '../../../src/ir/space.ts';
import { seedRng } from '../../../src/ir/rng.ts';
import type { ControllerConfig } from '../../../src/search/oneshot/enas-lstm.ts';
import { type LstmParams, PARAM_NAMES, type ParamName, initLstmParams } from '../../../src/search/oneshot/enas-params.ts';

export const layerDecision = (key: string, names: readonly string[], scope: readonly string[] = []): Decision => ({
  kind: 'layer',
  key,
  names,
  scope,
  sites: [key],
});

export const inputDecision = (key: string, names: readonly string[], nChosen: number | null, scope: readonly string[] = []): Decision => ({
  kind: 'input',
  key,
  names,
  nChosen,
  reduction: 'sum',
  scope,
  sites: [key],
});

export const spaceOf = (decisions: readonly Decision[]): SearchSpace => ({
  decisions,
  size: 0n, // not read by the ENAS code
});

const SCOPES: readonly (readonly string[])[] = [[], ['s0'], ['s0', 's1'], ['s1'], ['stem']];
const SOURCES = ['', 's0', 's1', 'stem', 'other'];
const OP_NAMES = ['conv3x3', 'maxpool', 'sepconv5x5', 'identity'];

/** One decision's shape before keys are assigned. */
const decisionShape = (n: number, maxInputs: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('layer' as const), scope: fc.integer({ min: 0, max: SCOPES.length - 1 }), reduce: fc.boolean() }).map((r) => ({ ...r, n })),
    fc
      .record({
        kind: fc.constant('input' as const),
        scope: fc.integer({ min: 0, max: SCOPES.length - 1 }),
        sources: fc.array(fc.integer({ min: 0, max: SOURCES.length - 1 }), { minLength: 0, maxLength: maxInputs }),
        any: fc.boolean(),
        k: fc.nat(),
      })
      .map((r) => ({ ...r, k: r.sources.length === 0 ? 0 : r.k % (r.sources.length + 1) })),
  );

/**
 * A random space: up to `maxDecisions` decisions mixing layer choices (all with n candidates, some keys with
 * "reduce"), input choices of k and of any number over named, repeated and unnamed sources, in nested scopes.
 */
export const arbSpace = (maxDecisions: number, maxInputs: number): fc.Arbitrary<SearchSpace> =>
  fc.integer({ min: 1, max: 3 }).chain((n) =>
    fc.array(decisionShape(n, maxInputs), { minLength: 1, maxLength: maxDecisions }).map((shapes) =>
      spaceOf(
        shapes.map((s, j): Decision => {
          const scope = SCOPES[s.scope]!;
          if (s.kind === 'layer') return layerDecision(s.reduce ? `reduce_${j}` : `op_${j}`, OP_NAMES.slice(0, s.n), scope);
          return inputDecision(`in_${j}`, s.sources.map((i) => SOURCES[i]!), s.any ? null : s.k, scope);
        }),
      ),
    ),
  );

export const arbConfig: fc.Arbitrary<ControllerConfig> = fc.record({
  tanhConstant: fc.constantFrom(null, 1.5, 2.5),
  temperature: fc.constantFrom(null, 0.7, 2),
  branchBias: fc.constantFrom(0, 0.25, 1),
  skipTarget: fc.double({ min: 0.1, max: 0.9, noNaN: true }),
});

/** The common layer-choice candidate count of a space (0 without layer choices). */
export const candidatesOf = (space: SearchSpace): number => space.decisions.find((d) => d.kind === 'layer')?.names.length ?? 0;

/** Parameters for `space` with `hidden` units, uniform in ±scale (larger than ENAS's 0.1, so that the tanh/sigmoid curvature matters). */
export const paramsFor = (space: SearchSpace, hidden: number, seed: number, scale = 0.8): LstmParams =>
  initLstmParams({ hidden, candidates: candidatesOf(space) }, seedRng(seed), scale)[0];

/** `params` with entry i of tensor `name` moved by `delta`. */
export const nudge = (params: LstmParams, name: ParamName, i: number, delta: number): LstmParams => {
  const t = [...params[name]];
  t[i] = t[i]! + delta;
  return { ...params, [name]: t };
};

/** Central finite differences of `f` at `params`, for every entry of every tensor. */
export const finiteDifferences = (params: LstmParams, f: (p: LstmParams) => number, eps = 1e-6): Record<ParamName, number[]> => {
  const out = {} as Record<ParamName, number[]>;
  for (const name of PARAM_NAMES) {
    out[name] = params[name].map((_, i) => (f(nudge(params, name, i, eps)) - f(nudge(params, name, i, -eps))) / (2 * eps));
  }
  return out;
};

/** The largest |a − b| / (1 + |b|) over every entry of every tensor, with where it occurs. */
export const worstError = (
  a: Readonly<Record<ParamName, ArrayLike<number>>>,
  b: Readonly<Record<ParamName, ArrayLike<number>>>,
): { readonly error: number; readonly at: string } => {
  let error = 0;
  let at = 'nowhere';
  for (const name of PARAM_NAMES) {
    for (let i = 0; i < b[name].length; i++) {
      const e = Math.abs(a[name][i]! - b[name][i]!) / (1 + Math.abs(b[name][i]!));
      if (!(e <= error)) {
        error = e;
        at = `${name}[${i}]: backward ${a[name][i]}, finite differences ${b[name][i]}`;
      }
    }
  }
  return { error, at };
};
