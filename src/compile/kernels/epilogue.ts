/**
 * Fused epilogues of the GEMM-shaped kernels (matmul/linear and conv2d): `out = act(acc + bias) + residual`.
 *
 * Fusing the bias, the activation and a residual add into the store of a matmul or convolution saves a full
 * read and write of the output per fused op (those elementwise ops are memory-bound), and a dispatch each.
 * The activation formulas are those of the reference interpreter (PyTorch's): gelu is the exact erf form.
 */

/** Activations that can be fused into a kernel's store. */
export type Activation = 'none' | 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu';

/** What happens to an accumulator before it is stored: `out = act(acc + bias) + residual`. */
export interface Epilogue {
  readonly bias: boolean;
  readonly activation: Activation;
  readonly residual: boolean;
}

/** The epilogue that stores the accumulator unchanged. */
export const plainEpilogue: Epilogue = { bias: false, activation: 'none', residual: false };

/** Every activation, in a stable order (for tests and tuning tables). */
export const activations: readonly Activation[] = ['none', 'relu', 'relu6', 'sigmoid', 'tanh', 'gelu'];

// erf: Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7 in exact arithmetic; a few 1e-8 more in f32), odd-extended.
// tanh: written from exp(-2|x|) so that it never overflows (exp(2x)/(exp(2x)+1) gives inf/inf = NaN at x ≳ 44),
// whatever the driver's builtin does.
const helperTemplate = (suffix: string, ty: string): string => `
fn erf_${suffix}(x: ${ty}) -> ${ty} {
  let ax = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign(x) * (1.0 - poly * exp(-ax * ax));
}
fn tanh_${suffix}(x: ${ty}) -> ${ty} {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}`;

const activationBody = (a: Activation, suffix: string): string => {
  switch (a) {
    case 'none':
      return 'x';
    case 'relu':
      return 'max(x, ZERO)';
    case 'relu6':
      return 'min(max(x, ZERO), ZERO + 6.0)';
    case 'sigmoid':
      return '1.0 / (1.0 + exp(-x))';
    case 'tanh':
      return `tanh_${suffix}(x)`;
    case 'gelu':
      return `0.5 * x * (1.0 + erf_${suffix}(x * 0.7071067811865476))`;
    default: {
      const never: never = a;
      throw new Error(`unknown activation ${String(never)}`);
    }
  }
};

/**
 * WGSL helper functions `act_f32(x: f32) -> f32` and `act_v4(x: vec4<f32>) -> vec4<f32>` applying `a`, plus the
 * erf/tanh helpers they need. Include once per module.
 *
 * @example
 * activationFunctions('gelu') // "fn erf_f32(...) ... fn act_v4(x: vec4<f32>) -> vec4<f32> { return 0.5 * x * ... }"
 */
export const activationFunctions = (a: Activation): string => {
  const fn = (suffix: string, ty: string): string =>
    `fn act_${suffix}(x: ${ty}) -> ${ty} {\n  let ZERO = ${ty}(0.0);\n  _ = ZERO;\n  return ${activationBody(a, suffix)};\n}`;
  const helpers = a === 'tanh' || a === 'gelu' ? helperTemplate('f32', 'f32') + helperTemplate('v4', 'vec4<f32>') + '\n' : '';
  return `${helpers}${fn('f32', 'f32')}\n${fn('v4', 'vec4<f32>')}\n`;
};

/**
 * The WGSL expression of the stored value: `act(acc + bias) + residual`, for scalar (`f32`) or `vec4` values.
 * `biasExpr`/`residualExpr` are WGSL expressions of the same type as `acc`, used only when the epilogue has them.
 */
export const epilogueExpr = (e: Epilogue, vec: boolean, acc: string, biasExpr: string, residualExpr: string): string => {
  const withBias = e.bias ? `(${acc} + ${biasExpr})` : acc;
  const activated = e.activation === 'none' ? withBias : `act_${vec ? 'v4' : 'f32'}(${withBias})`;
  return e.residual ? `${activated} + ${residualExpr}` : activated;
};

// ---- the fused store shared by the matmul and conv2d generators ----

/** The helper functions an epilogue needs (only the activation ones; empty for `none`). */
export const epilogueFunctions = (e: Epilogue): string => (e.activation === 'none' ? '' : activationFunctions(e.activation));

/**
 * The store of one vec4 accumulator. With `vecOut`, four contiguous outputs go at vec4 index `vecIndex` (all four
 * valid when `valid` holds); otherwise lane l goes at scalar index `scalarAt(l)`, each lane guarded by `laneValid(l)`.
 * `biasVec`/`biasLane` address the bias for the vec4 and the scalar case.
 */
export interface StoreSpec {
  readonly e: Epilogue;
  readonly vecOut: boolean;
  readonly acc: string;
  readonly valid: string;
  readonly vecIndex: string;
  readonly scalarAt: (lane: number) => string;
  readonly laneValid: (l: number) => string;
  readonly biasVec: string;
  readonly biasLane: (l: number) => string;
}

/**
 * WGSL statements storing one accumulator through the epilogue (see {@link StoreSpec}). The epilogue is always
 * evaluated once on the vec4 (then stored lane by lane where needed): lavapipe's compile time grows with code
 * size, and 4 scalar copies of a gelu per accumulator made 8×8 tiles take tens of seconds to compile.
 * Reads of bias/residual lanes past the edge are discarded; WebGPU's robust access keeps them inside the buffer.
 */
export const storeAccumulator = (s: StoreSpec): string => {
  if (s.vecOut) {
    const v = epilogueExpr(s.e, true, s.acc, s.biasVec, `residual[${s.vecIndex}]`);
    return `  if (${s.valid}) { out[${s.vecIndex}] = ${v}; }\n`;
  }
  const lanes = [0, 1, 2, 3];
  const bias = `vec4<f32>(${lanes.map(s.biasLane).join(', ')})`;
  const residual = `vec4<f32>(${lanes.map((l) => `residual[${s.scalarAt(l)}]`).join(', ')})`;
  let r = `  if (${s.valid}) {\n    let v = ${epilogueExpr(s.e, true, s.acc, bias, residual)};\n`;
  for (const l of lanes) r += `    if (${s.laneValid(l)}) { out[${s.scalarAt(l)}] = v.${'xyzw'[l]}; }\n`;
  return `${r}  }\n`;
};
