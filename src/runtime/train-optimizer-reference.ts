/** Moved: the optimizers' float64 reference lives in `src/reference/optimizer.ts`. This module keeps the old import path working. */
export * from '../reference/optimizer.ts';
