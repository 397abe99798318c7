/** The compiler: graphs to Programs of WGSL kernels (pure; no device). */
export * from './kernel.ts';
export * from './program.ts';
export { type LowerError, type LowerOptions, lower, schedule } from './lower.ts';
export { type LogicalDispatch, type LogicalValue, type Schedule, assignBuffers, lifetimes, planMemory } from './memory.ts';
export { lowerTraining } from './lower-train.ts';
export { trainingSchedule } from './lower.ts';
