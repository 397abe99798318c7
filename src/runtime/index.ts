/** The runtime: effects. The Dawn device, execution of Programs, the CPU reference interpreter, parameters,
 * data sets, safetensors checkpoints, model loading and the classic-NAS trial runner. */
export * from './device.ts';
export * from './execute.ts';
export * from './pipeline-cache.ts';
export * from '../reference/evaluate.ts';
export * from './params.ts';
export * from './safetensors.ts';
export * from './load-model.ts';
export * from './trials.ts';
export * from './early-stop.ts';
export * from './data/index.ts';
export * from './train.ts';
export * from './checkpoint.ts';
export * from './progress.ts';
export * from './experiment-log.ts';
export * from './autotune.ts';
export * from './param-pool.ts';
export * from './oneshot/supernet.ts';
export * from './oneshot/driver.ts';
export * from './oneshot/search.ts';
export * from './oneshot/pdarts.ts';
export * from './oneshot/registry.ts';
export { dartsDriver } from './oneshot/darts-driver.ts';
export { gdasDriver } from './oneshot/gdas-driver.ts';
export { proxylessDriver, candidateCosts } from './oneshot/proxyless-driver.ts';
export { enasDriver } from './oneshot/enas-driver.ts';
export { sposDriver } from './oneshot/spos-driver.ts';
