/**
 * The ENAS controller's parameters (see enas-lstm.ts for the network): eight tensors as plain JSON number arrays,
 * matrices row-major with rows = outputs, the LSTM's four gates stacked in PyTorch's order (input, forget, cell,
 * output). Their sizes follow from the hidden units H and the common candidate count n of the layer choices.
 *
 * @example
 * const [params, rng1] = initLstmParams({ hidden: 64, candidates: 6 }, seedRng(1)); // uniform in ±0.1
 * paramLengths({ hidden: 64, candidates: 6 }).wIh; // 16384 (4H × H)
 */
import { type Rng, nextFloat } from '../../ir/rng.ts';

/** The controller's parameter tensors, in a fixed order. */
export const PARAM_NAMES = ['gEmb', 'wIh', 'wHh', 'embedding', 'wSoft', 'wAnchor', 'wQuery', 'vAttn'] as const;
/** The name of one parameter tensor. */
export type ParamName = (typeof PARAM_NAMES)[number];

/** One array per parameter tensor. */
export type Tensors<A> = Readonly<Record<ParamName, A>>;
/** The controller's parameters (plain JSON). */
export type LstmParams = Tensors<readonly number[]>;

/** The sizes that fix every tensor's length: hidden units H and the layer choices' candidate count n. */
export interface ControllerDims {
  readonly hidden: number;
  readonly candidates: number;
}

/** Each tensor's element count: g_emb H, W_ih and W_hh 4H×H, embedding and W_soft n×H, W_anchor and W_query H×H, v H. */
export const paramLengths = (d: ControllerDims): Readonly<Record<ParamName, number>> => {
  const h = d.hidden;
  return { gEmb: h, wIh: 4 * h * h, wHh: 4 * h * h, embedding: d.candidates * h, wSoft: d.candidates * h, wAnchor: h * h, wQuery: h * h, vAttn: h };
};

/** The dims of a parameter set. */
export const dimsOf = (p: Tensors<ArrayLike<number>>): ControllerDims => {
  const hidden = p.gEmb.length;
  return { hidden, candidates: hidden === 0 ? 0 : p.wSoft.length / hidden };
};

/** Parameters drawn uniformly from [−scale, scale] (the ENAS controller's init, scale 0.1), tensor by tensor. */
export const initLstmParams = (d: ControllerDims, rng: Rng, scale = 0.1): [LstmParams, Rng] => {
  const lengths = paramLengths(d);
  let r = rng;
  const out = {} as Record<ParamName, number[]>;
  for (const name of PARAM_NAMES) {
    const a: number[] = [];
    for (let i = 0; i < lengths[name]; i++) {
      const [u, next] = nextFloat(r);
      r = next;
      a.push((2 * u - 1) * scale);
    }
    out[name] = a;
  }
  return [out, r];
};

/** Zero tensors of the given dims (gradient accumulators, Adam moments). */
export const zeroTensors = (d: ControllerDims): Record<ParamName, Float64Array> => {
  const lengths = paramLengths(d);
  const out = {} as Record<ParamName, Float64Array>;
  for (const name of PARAM_NAMES) out[name] = new Float64Array(lengths[name]);
  return out;
};
