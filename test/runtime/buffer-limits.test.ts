/**
 * The buffer-limit check on lowered Programs (pure, no device): the error names the largest buffer, its size and
 * the limit, and the batch it says fits does fit while one more does not (the per-sample buffers grow linearly).
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect, it } from 'vitest';
import { lower } from '../../src/compile/lower.ts';
import { buildModel, conv2d, defineModel, flatten, linear, relu, sequential } from '../../src/ir/index.ts';
import { bufferLimitError } from '../../src/runtime/buffer-limits.ts';

const g = buildModel(defineModel({ name: 'b', input: [1, 16, 16], layer: sequential({ conv: conv2d({ out: 8, kernel: 3, padding: 1 }), r: relu(), f: flatten(), fc: linear({ out: 10 }) }) }));
if (E.isLeft(g)) throw new Error('model');
const program = (batch: number) => {
  const p = lower(g.right, { mode: 'fixed', batch });
  if (E.isLeft(p)) throw new Error(p.left.map((e) => e.message).join('; '));
  return p.right;
};

it('names the largest buffer, its size and the limit, and the batch that fits does fit (one more does not)', () => {
  const limits = { maxBufferSize: 1 << 20, maxStorageBufferBindingSize: 1 << 19 };
  const big = program(100_000);
  const e = bufferLimitError(big, limits);
  expect(e).toBeDefined();
  const largest = Math.max(...big.buffers.map((b) => b.bytes));
  expect(e!.bytes).toBe(largest);
  expect(e!.limit).toBe(1 << 19);
  expect(e!.message).toMatch(/^batch 100000: the largest buffer, \w+ '.+', needs [\d.]+ MiB, above this device's maxStorageBufferBindingSize of 512 KiB; a batch of at most \d+ fits/);
  expect(e!.message).toContain(`a batch of at most ${e!.fits} fits`);
  // The conv output is 8·16·16·4 = 8 KiB per image: 512 KiB holds 64 of them.
  expect(e!.fits).toBe(64);
  expect(bufferLimitError(program(e!.fits), limits)).toBeUndefined();
  expect(bufferLimitError(program(e!.fits + 1), limits)).toBeDefined();
  expect(bufferLimitError(program(8), limits)).toBeUndefined();
});

it('says that no batch fits when a parameter alone is above the limit', () => {
  const e = bufferLimitError(program(1), { maxBufferSize: 4096, maxStorageBufferBindingSize: 4096 });
  expect(e?.fits).toBe(0);
  expect(e?.message).toMatch(/does not depend on the batch: no batch fits/);
});
