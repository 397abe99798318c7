import fc from 'fast-check';
import { expect, it } from 'vitest';
import { COUNTER_RNG_WGSL, dropoutKeep, dropoutThreshold, hash3, lowbias32, siteId } from '../../src/ir/counter-rng.ts';
import { describeGpu, runCompute, unwrapGpu } from '../gpu.ts';

// A second implementation of the mixer in BigInt arithmetic (no Math.imul, no >>> 0 tricks).
const M = (1n << 32n) - 1n;
const lowbias32Big = (x: bigint): bigint => {
  let h = x & M;
  h ^= h >> 16n;
  h = (h * 0x7feb352dn) & M;
  h ^= h >> 15n;
  h = (h * 0x846ca68bn) & M;
  h ^= h >> 16n;
  return h;
};
const hash3Big = (s: bigint, a: bigint, b: bigint): bigint => lowbias32Big(lowbias32Big(lowbias32Big((s + 0x9e3779b9n) & M) ^ a) ^ b);

const u32 = fc.nat({ max: 0xffffffff });

it('hash3 equals a BigInt implementation and stays in u32', () => {
  fc.assert(
    fc.property(u32, u32, u32, (s, a, b) => {
      const h = hash3(s, a, b);
      expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
      expect(BigInt(h)).toBe(hash3Big(BigInt(s), BigInt(a), BigInt(b)));
    }),
    { numRuns: 2000 },
  );
});

it('lowbias32 is a bijection on a sample (no collisions among 2^16 consecutive inputs)', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 65536; i++) seen.add(lowbias32(i * 65537));
  expect(seen.size).toBe(65536);
});

it('hash3 bits are balanced and consecutive counters look independent', () => {
  const n = 100_000;
  const ones = new Array<number>(32).fill(0);
  let agree = 0;
  let prev = hash3(7, 3, 0);
  for (let i = 0; i < n; i++) {
    const h = hash3(7, 3, i);
    for (let bit = 0; bit < 32; bit++) ones[bit]! += (h >>> bit) & 1;
    if (((h ^ prev) & 1) === 0) agree++;
    prev = h;
  }
  // Each bit is a fair coin: mean n/2, sd sqrt(n)/2 ≈ 158; allow 5 sd.
  for (const c of ones) expect(Math.abs(c - n / 2)).toBeLessThan(5 * 158);
  expect(Math.abs(agree - n / 2)).toBeLessThan(5 * 158);
});

it('dropoutKeep keeps a fraction 1 - p, and the threshold is exact at the ends', () => {
  expect(dropoutThreshold(0)).toBe(0);
  expect(dropoutThreshold(0.5)).toBe(2 ** 31);
  expect(() => dropoutThreshold(1)).toThrow(RangeError);
  for (const p of [0, 0.1, 0.5, 0.9]) {
    const n = 50_000;
    let kept = 0;
    for (let i = 0; i < n; i++) if (dropoutKeep(11, siteId('cell/drop'), i, p)) kept++;
    // Binomial sd = sqrt(n p (1-p)) ≤ 112; allow 5 sd.
    expect(Math.abs(kept - n * (1 - p))).toBeLessThan(5 * 112 + 1);
  }
});

it('different sites and seeds draw different masks', () => {
  const mask = (seed: number, site: string): string => Array.from({ length: 64 }, (_, i) => (dropoutKeep(seed, siteId(site), i, 0.5) ? '1' : '0')).join('');
  expect(mask(1, 'a/drop')).not.toBe(mask(1, 'b/drop'));
  expect(mask(1, 'a/drop')).not.toBe(mask(2, 'a/drop'));
  expect(mask(1, 'a/drop')).toBe(mask(1, 'a/drop'));
});

const HASH_KERNEL = /* wgsl */ `
${COUNTER_RNG_WGSL}
@group(0) @binding(0) var<storage, read> args: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = id.x;
  if (i >= arrayLength(&out) / 2u) { return; }
  let s = args[3u * i];
  let a = args[3u * i + 1u];
  let b = args[3u * i + 2u];
  out[2u * i] = hash3(s, a, b);
  out[2u * i + 1u] = select(0u, 1u, dropout_keep(s, a, b, 0x80000000u));
}`;

await describeGpu('counter RNG on the GPU', (gpu) => {
  it('WGSL hash3 and dropout_keep agree bit for bit with the TypeScript version', async () => {
    // Random triples, plus edge values (0, 1, 2^31, 2^32 - 1) in every position.
    const edges = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];
    const triples: [number, number, number][] = [];
    for (const s of edges) for (const a of edges) for (const b of edges) triples.push([s, a, b]);
    fc.sample(fc.tuple(u32, u32, u32), { numRuns: 4096 - triples.length, seed: 42 }).forEach((t) => triples.push(t));
    const args = Uint32Array.from(triples.flat());
    const n = triples.length;
    const out = new Uint32Array(
      unwrapGpu(await runCompute(gpu, { label: 'hash3', wgsl: HASH_KERNEL, inputs: [args], outputBytes: 8 * n, workgroups: [Math.ceil(n / 64)] })),
    );
    let mismatches = 0;
    triples.forEach(([s, a, b], i) => {
      if (out[2 * i] !== hash3(s, a, b)) mismatches++;
      if ((out[2 * i + 1] === 1) !== dropoutKeep(s, a, b, 0.5)) mismatches++;
    });
    expect(mismatches).toBe(0);
  });
});
