/** The search-space IR: graphs, layers, choices, search spaces, architectures and apply. */
export * from './errors.ts';
export * from './shape.ts';
export * from './ops.ts';
export * from './node.ts';
export * from './ctx.ts';
export * from './layers.ts';
export * from './choice.ts';
export * from './graph.ts';
export * from './cost.ts';
export * from './space.ts';
export * from './apply.ts';
export * from './restrict.ts';
export * from './rng.ts';
export * from './architecture.ts';
export * from './serialize.ts';
export * from './counter-rng.ts';
export * from './shape-varying.ts';
