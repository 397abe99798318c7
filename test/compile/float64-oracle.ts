/**
 * float64 oracles shared by the kernel tests, written independently of the WGSL generators: erf by its series,
 * the epilogue activations, and a seeded uniform fill.
 */
import type { Activation } from '../../src/compile/kernels/epilogue.ts';

/** erf by its Maclaurin series (|x| ≤ 5: terms stay below 1e10, so ~1e-7 relative cancellation is far off), ±1 beyond. */
export const erf64 = (x: number): number => {
  if (Math.abs(x) > 5) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
};

export const act64 = (a: Activation, x: number): number => {
  switch (a) {
    case 'none': return x;
    case 'relu': return Math.max(x, 0);
    case 'relu6': return Math.min(Math.max(x, 0), 6);
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'tanh': return Math.tanh(x);
    case 'gelu': return 0.5 * x * (1 + erf64(x / Math.SQRT2));
  }
};

export const rand = (n: number, seed: number): Float32Array => {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
};
