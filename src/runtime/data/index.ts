/** Data sets for training: IDX files (Fashion-MNIST, MNIST), synthetic sets, splits and batches. */
export * from './idx.ts';
export * from './batches.ts';
export * from './fashion-mnist.ts';
export * from './synthetic.ts';
