/**
 * An explicit, immutable random number generator (xoshiro128**), so that the pure core never calls
 * `Math.random`: every function that needs randomness takes an `Rng` and returns the next one.
 *
 * @example
 * let rng = seedRng(42);
 * const [u, rng2] = nextFloat(rng); // u in [0, 1)
 */
export interface Rng {
  readonly s: readonly [number, number, number, number];
}

const splitmix32 = (a: number): [number, number] => {
  a = (a + 0x9e3779b9) | 0;
  let t = a ^ (a >>> 16);
  t = Math.imul(t, 0x21f0aaad);
  t ^= t >>> 15;
  t = Math.imul(t, 0x735a2d97);
  t ^= t >>> 15;
  return [t >>> 0, a];
};

/** A generator seeded from a 32-bit integer (any number is reduced to one). */
export const seedRng = (seed: number): Rng => {
  let a = Math.trunc(seed) | 0;
  const s: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [v, next] = splitmix32(a);
    s.push(v);
    a = next;
  }
  if (!s.some((v) => v !== 0)) s[0] = 1; // xoshiro's one forbidden state
  return { s: [s[0]!, s[1]!, s[2]!, s[3]!] };
};

/** The next 32-bit unsigned integer. */
export const nextU32 = (rng: Rng): [number, Rng] => {
  const [s0, s1, s2, s3] = rng.s;
  const result = Math.imul(((Math.imul(s1, 5) << 7) | (Math.imul(s1, 5) >>> 25)), 9) >>> 0;
  const t = s1 << 9;
  let n2 = s2 ^ s0;
  let n3 = s3 ^ s1;
  const n1 = s1 ^ n2;
  const n0 = s0 ^ n3;
  n2 ^= t;
  n3 = (n3 << 11) | (n3 >>> 21);
  return [result, { s: [n0 >>> 0, n1 >>> 0, n2 >>> 0, n3 >>> 0] }];
};

/** A float in [0, 1) with 32 bits of randomness. */
export const nextFloat = (rng: Rng): [number, Rng] => {
  const [u, r] = nextU32(rng);
  return [u / 4294967296, r];
};

/** An integer in [0, n), without modulo bias (rejection sampling). */
export const nextInt = (rng: Rng, n: number): [number, Rng] => {
  if (!(Number.isInteger(n) && n > 0 && n <= 4294967296)) throw new RangeError(`nextInt: n must be an integer in 1..2^32, got ${n}`);
  const limit = 4294967296 - (4294967296 % n);
  let r = rng;
  for (;;) {
    const [u, next] = nextU32(r);
    r = next;
    if (u < limit) return [u % n, r];
  }
};

/** A standard normal sample (Box–Muller). */
export const nextNormal = (rng: Rng): [number, Rng] => {
  const [u1, r1] = nextFloat(rng);
  const [u2, r2] = nextFloat(r1);
  return [Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2), r2];
};

/** `k` distinct indices from [0, n), ascending (a partial Fisher–Yates shuffle). */
export const sampleDistinct = (rng: Rng, n: number, k: number): [number[], Rng] => {
  const idx = Array.from({ length: n }, (_, i) => i);
  let r = rng;
  for (let i = 0; i < k; i++) {
    const [j, next] = nextInt(r, n - i);
    r = next;
    const t = idx[i]!;
    idx[i] = idx[i + j]!;
    idx[i + j] = t;
  }
  return [idx.slice(0, k).sort((a, b) => a - b), r];
};
