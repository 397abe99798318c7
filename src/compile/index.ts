/** The compiler: graphs to Programs of WGSL kernels (pure; no device), and the IR transforms of training. */
export * from './kernel.ts';
export * from './program.ts';
export { type LowerError, type LowerOptions, lower, schedule, trainingSchedule } from './lower.ts';
export { type LogicalDispatch, type LogicalValue, type Schedule, assignBuffers, lifetimes, planMemory } from './memory.ts';
export * from './lower-train.ts';
export * from './grad.ts';
export * from './training-graph.ts';
export * from './mix.ts';
export * from './optimizer.ts';
export * from './schedule.ts';
