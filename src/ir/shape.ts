/**
 * Per-sample shapes: NCHW without the batch dimension, so an image is `[C, H, W]` and a feature vector `[F]`.
 * The batch size is a compile-time argument of the compiler, never part of the IR.
 */
export type Shape = readonly number[];

export const shapeEq = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export const numel = (s: Shape): number => s.reduce((p, d) => p * d, 1);

export const showShape = (s: Shape): string => `[${s.join(', ')}]`;

/** Output size of a convolution or pooling window along one axis (PyTorch's formula, floor mode). */
export const windowOut = (size: number, kernel: number, stride: number, padding: number, dilation = 1): number =>
  Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;

export type Pair = readonly [number, number];

export const pair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : v);
