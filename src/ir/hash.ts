/**
 * Structural hashing for hash-consing: a node's id is a 128-bit hash of its op and its inputs' ids, so equal
 * structures get equal ids (structural sharing and CSE for free) without any global table.
 */

/** JSON with object keys sorted, so that equal values always print equally. */
export const canonicalJson = (v: unknown): string => {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) return JSON.stringify(String(v));
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
};

/** 128-bit non-cryptographic hash (four independently seeded 32-bit murmur3-style lanes) as 32 hex digits. */
export const hash128 = (s: string): string => {
  let h1 = 0x9747b28c, h2 = 0x85ebca6b, h3 = 0xc2b2ae35, h4 = 0x27d4eb2f;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0xcc9e2d51);
    h1 = (h1 << 15) | (h1 >>> 17);
    h2 = Math.imul(h2 ^ c, 0x1b873593);
    h2 = (h2 << 13) | (h2 >>> 19);
    h3 = Math.imul(h3 ^ c, 0x85ebca77);
    h3 = (h3 << 11) | (h3 >>> 21);
    h4 = Math.imul(h4 ^ c, 0xc2b2ae3d);
    h4 = (h4 << 17) | (h4 >>> 15);
    h1 = Math.imul(h1, 5) + h2 | 0;
    h2 = Math.imul(h2, 5) + h3 | 0;
    h3 = Math.imul(h3, 5) + h4 | 0;
    h4 = Math.imul(h4, 5) + h1 | 0;
  }
  const fmix = (h: number): number => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  };
  const n = s.length;
  return [fmix(h1 ^ n), fmix(h2 ^ n), fmix(h3 ^ n), fmix(h4 ^ n)].map((h) => h.toString(16).padStart(8, '0')).join('');
};
