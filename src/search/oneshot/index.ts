/**
 * One-shot NAS as pure functions: the state and update rules of DARTS (first and second order), P-DARTS, GDAS,
 * ProxylessNAS, ENAS (an LSTM controller trained by REINFORCE, on the CPU) and SPOS (uniform or FLOPs-binned path
 * sampling and its evolutionary search). The supernets they steer run in `nasgraph/runtime` (`oneShotSearch`).
 *
 * @example
 * const [state, rng] = dartsInit(space, seedRng(0), { order: 2 });
 * const w = dartsWeights(space, state);            // mix weights per key for the supernet
 * const next = dartsArchStep(space, state, dLdw);  // dLdw: ∂L/∂w per key, measured on the device
 */
export * from './types.ts';
export * from './mixed-shapes.ts';
export * from './adam.ts';
export * from './alphas.ts';
export * from './darts.ts';
export * from './gdas.ts';
export * from './fbnet.ts';
export * from './proxyless.ts';
export * from './pdarts.ts';
export { ENAS_DEFAULTS, type EnasOptions, type EnasSample, type EnasSettings, type EnasState, decodeEnasState, encodeEnasState, enasCheck, enasDistribution, enasExport, enasGradient, enasInit, enasOptionsCodec, enasSample, enasSettings, enasUpdate } from './enas.ts';
export * from './spos.ts';
export * from './spos-evolution.ts';
