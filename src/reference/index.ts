/**
 * The reference interpreter: evaluates graphs on the CPU in float64 (forward, training ops, optimizer steps), the
 * oracle every kernel is tested against. Pure: no device, no I/O.
 */
export * from './evaluate.ts';
export * from './optimizer.ts';
