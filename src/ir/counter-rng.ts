/**
 * A counter-based random function: `hash3(seed, a, b)` is a 32-bit integer hash, so the k-th random number of
 * a stream is computed from (seed, site, k) directly, with no state to carry. The GPU needs exactly that for
 * dropout masks (every invocation draws its own bit), and the CPU reference interpreter must draw the SAME bits:
 * `COUNTER_RNG_WGSL` is this file's functions written in WGSL, operation for operation, so the two agree bit for
 * bit (tested on the GPU in test/ir/counter-rng.test.ts).
 *
 * The mixer is Chris Wellons' "lowbias32" (a bijection on u32 with low avalanche bias); `hash3` chains it so each
 * argument passes through at least one full mixing round. Only u32 wrapping multiplication, xor, addition and
 * logical shifts are used: the operations WGSL's u32 defines identically.
 *
 * @example
 * const keep = dropoutKeep(stepSeed, siteId('cell1/drop'), i, 0.2); // true for about 80% of indices i
 */

/** One round of lowbias32: a bijective u32 → u32 mixer. */
export const lowbias32 = (x: number): number => {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
};

/** The golden-ratio constant, added so that seed 0 does not start from lowbias32's fixed point 0. */
const GOLDEN = 0x9e3779b9;

/**
 * A 32-bit hash of three 32-bit integers (each argument is reduced modulo 2^32). For a fixed seed and `a`,
 * it is a bijection in `b`, so distinct counters never collide within one stream.
 */
export const hash3 = (seed: number, a: number, b: number): number => {
  const h0 = lowbias32((seed + GOLDEN) >>> 0);
  const h1 = lowbias32((h0 ^ a) >>> 0);
  return lowbias32((h1 ^ b) >>> 0);
};

/**
 * A u32 naming a dropout site (its `site` string, a module path), so that two dropouts of one step draw
 * independent masks. FNV-1a over the UTF-16 code units, then one mixing round. The compiler bakes this number
 * into the kernel as a constant.
 */
export const siteId = (site: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < site.length; i++) {
    h ^= site.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return lowbias32(h);
};

/**
 * The u32 threshold of drop probability `p`: an element is kept iff its hash is >= the threshold, so the drop
 * probability is threshold / 2^32 (p rounded down to a multiple of 2^-32). `p` must be in [0, 1).
 */
export const dropoutThreshold = (p: number): number => {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropoutThreshold: p must be in [0, 1), got ${p}`);
  return Math.min(Math.floor(p * 4294967296), 4294967295);
};

/**
 * Whether dropout keeps element `index` of site `site` (a `siteId`) in the step drawing with `seed`, at drop
 * probability `p`. `index` is the flat element index over the whole batch tensor (sample-major, NCHW), or
 * `n * C + c` for channelwise dropout (PyTorch's Dropout2d).
 */
export const dropoutKeep = (seed: number, site: number, index: number, p: number): boolean =>
  hash3(seed, site, index) >= dropoutThreshold(p);

/**
 * The same functions in WGSL: `lowbias32`, `hash3(seed, a, b)` and `dropout_keep(seed, site, index, threshold)`
 * (threshold from `dropoutThreshold`). Paste into any kernel that needs random bits.
 */
export const COUNTER_RNG_WGSL = /* wgsl */ `
fn lowbias32(x: u32) -> u32 {
  var h = x;
  h = h ^ (h >> 16u);
  h = h * 0x7feb352du;
  h = h ^ (h >> 15u);
  h = h * 0x846ca68bu;
  h = h ^ (h >> 16u);
  return h;
}

fn hash3(seed: u32, a: u32, b: u32) -> u32 {
  let h0 = lowbias32(seed + 0x9e3779b9u);
  let h1 = lowbias32(h0 ^ a);
  return lowbias32(h1 ^ b);
}

fn dropout_keep(seed: u32, site: u32, index: u32, threshold: u32) -> bool {
  return hash3(seed, site, index) >= threshold;
}
`;
