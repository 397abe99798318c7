/**
 * The options of the conv2d generators and what all of them share: output size, validation, bindings.
 * (Split from conv2d.ts, which re-exports the public names.)
 */
import type { Binding } from '../kernel.ts';
import type { Epilogue } from './epilogue.ts';
import { type TileConfig, storageBinding, tileProblems } from './tiles.ts';

/** A 2-D convolution: input [batch, cin, h, w], weight [cout, cin/groups, kh, kw], output [batch, cout, oh, ow]. */
export interface Conv2dOptions {
  readonly label: string;
  readonly batch: number;
  readonly cin: number;
  readonly h: number;
  readonly w: number;
  readonly cout: number;
  readonly kh: number;
  readonly kw: number;
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
  /** Bias is [cout]; residual has the output's shape. */
  readonly epilogue?: Epilogue;
  /** Tiling of the GEMM-shaped kernels (ignored by the direct depthwise kernel). Default: the software tile, fitted. */
  readonly tile?: TileConfig;
  /** Which kernel to generate ({@link Conv2dAlgorithm}). Default 'auto'. */
  readonly algorithm?: Conv2dAlgorithm;
}

/**
 * The conv2d kernels {@link conv2dKernel} can generate: 'gemm' (implicit GEMM, any convolution), 'window'
 * (sliding window, any convolution), 'direct' (one thread per 4 outputs, depthwise convolutions only); 'auto'
 * picks by shape ({@link conv2dAlgorithm}).
 */
export type Conv2dAlgorithm = 'auto' | 'gemm' | 'window' | 'direct';

/** Output height and width (PyTorch's floor formula). */
export const conv2dOutputSize = (o: Conv2dOptions): readonly [number, number] => [
  Math.floor((o.h + 2 * o.padding[0] - o.dilation[0] * (o.kh - 1) - 1) / o.stride[0]) + 1,
  Math.floor((o.w + 2 * o.padding[1] - o.dilation[1] * (o.kw - 1) - 1) / o.stride[1]) + 1,
];

/** Whether the convolution is depthwise: one input channel per group, several groups. */
export const isDepthwise = (o: Conv2dOptions): boolean => o.groups > 1 && o.cin === o.groups;

/** Throws on invalid options or tile: a programming error of the lowering (the IR has checked shapes). */
export const checkConv2d = (o: Conv2dOptions, tile: TileConfig): void => {
  const problems = [...tileProblems(tile)];
  const ints: readonly (readonly [string, number, number])[] = [
    ['batch', o.batch, 1], ['cin', o.cin, 1], ['h', o.h, 1], ['w', o.w, 1], ['cout', o.cout, 1], ['kh', o.kh, 1], ['kw', o.kw, 1],
    ['groups', o.groups, 1], ['stride', o.stride[0], 1], ['stride', o.stride[1], 1], ['dilation', o.dilation[0], 1],
    ['dilation', o.dilation[1], 1], ['padding', o.padding[0], 0], ['padding', o.padding[1], 0],
  ];
  for (const [k, v, lo] of ints) if (!Number.isInteger(v) || v < lo) problems.push(`${k}=${v} must be an integer ≥ ${lo}`);
  if (o.cin % o.groups !== 0 || o.cout % o.groups !== 0) problems.push(`groups=${o.groups} must divide cin=${o.cin} and cout=${o.cout}`);
  const [oh, ow] = conv2dOutputSize(o);
  if (oh < 1 || ow < 1) problems.push(`the ${o.kh}x${o.kw} window (dilation ${o.dilation.join('x')}) does not fit the padded ${o.h}x${o.w} input`);
  // A programming error of the lowering, not a user error: the IR has already checked shapes.
  if (problems.length > 0) throw new Error(`conv2d ${o.label}: ${problems.join('; ')}`);
};

/** The bindings of every conv2d kernel, in order: x, weight, bias?, residual?, out. */
export const conv2dBindings = (e: Epilogue): Binding[] => [
  { name: 'x', access: 'read' },
  { name: 'weight', access: 'read' },
  ...(e.bias ? [{ name: 'bias', access: 'read' } as const] : []),
  ...(e.residual ? [{ name: 'residual', access: 'read' } as const] : []),
  { name: 'out', access: 'read_write' },
];

/** WGSL declarations of `bindings` (group 0, in order), as vec4 arrays where `vec(name)`. */
export const declareConv2dBindings = (bindings: readonly Binding[], vec: (name: string) => boolean): string =>
  bindings.map((b, i) => storageBinding(i, b.name, vec(b.name), b.access === 'read_write')).join('');

/** `n` written as a WGSL i32 literal. */
export const s = (n: number): string => `${n}i`;
