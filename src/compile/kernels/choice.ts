/**
 * The slot kernel of input choices that concatenate (or pick a position of) their selection, under run-time
 * weights (mixed mode, and sampled mode with a 0/1 mask). Weighted sums of candidates use the one
 * mixed-relaxation kernel, `weightedSumChunkKernel` (mix.ts). Weights live in a per-key buffer, so one compiled
 * program serves any weights. A zero weight skips its input entirely (NNI: only non-zero weights count), so an
 * unselected candidate never leaks NaN or garbage from a buffer that was not computed.
 *
 * Inputs come in chunks of at most `CHOICE_CHUNK` bindings (storage-buffer limits); later chunks accumulate.
 */
import type { Binding, Kernel } from '../kernel.ts';
import { MIX_CHUNK } from './mix.ts';
import { elementwiseModule, u32 } from './wgsl.ts';

/** Inputs per dispatch: weights + inputs + out stay within WebGPU's default 8 storage buffers per stage. */
export const CHOICE_CHUNK = MIX_CHUNK;

const bindingsFor = (m: number): readonly Binding[] => [
  { name: 'w', access: 'read' },
  ...Array.from({ length: m }, (_, j) => ({ name: `x${j}`, access: 'read' as const })),
  { name: 'out', access: 'read_write' },
];

export interface SlotSpec {
  readonly label: string;
  readonly batch: number;
  /** Elements of one input per sample (C·H·W). */
  readonly per: number;
  /** Slots in the output per sample (nChosen for concat; 1 for a 'none' position). */
  readonly slots: number;
  /** The first slot's rank among the selected inputs (the position, for reduction 'none'). */
  readonly slotBase: number;
  readonly m: number;
  readonly offset: number;
  readonly count: number;
  /** The first chunk writes every element (zeros where its inputs do not land). */
  readonly first: boolean;
}

/**
 * Slot `s` of each sample receives `w_k · x_k`, where `k` is the (slotBase+s)-th candidate with non-zero weight
 * (ascending). A slot with no such candidate is zero. This is `concat` (and `none`) over the selection.
 *
 * @example
 * slotKernel({ label: 'inputChoice n2', batch: 2, per: 64, slots: 2, slotBase: 0, m: 3, offset: 0, count: 3, first: true });
 */
export const slotKernel = (s: SlotSpec): Kernel => {
  const cases = Array.from(
    { length: s.m },
    (_, j) => `${j === 0 ? '' : ' else '}if (k == ${u32(s.offset + j)}) { v = w[k] * x${j}[src]; hit = true; }`,
  ).join('');
  return elementwiseModule({
    label: s.label,
    bindings: bindingsFor(s.m),
    n: s.batch * s.slots * s.per,
    body: `let b = i / ${u32(s.slots * s.per)};
  let rest = i % ${u32(s.slots * s.per)};
  let slot = rest / ${u32(s.per)} + ${u32(s.slotBase)};
  let src = b * ${u32(s.per)} + rest % ${u32(s.per)};
  // k: the candidate holding rank \`slot\` among non-zero weights, or count when there is none.
  var k = ${u32(s.count)};
  var seen = 0u;
  for (var j = 0u; j < ${u32(s.count)}; j++) {
    if (w[j] != 0.0) {
      if (seen == slot) { k = j; break; }
      seen++;
    }
  }
  var v = 0.0;
  var hit = false;
  ${cases}
  if (hit || ${s.first ? 'true' : 'false'}) { out[i] = v; }`,
  });
};
