/**
 * nasgraph: neural architecture search for TypeScript. The package root re-exports the IR (models, choices,
 * search spaces, architectures); the compiler, the search strategies and the runtime are `nasgraph/compile`,
 * `nasgraph/search` and `nasgraph/runtime`.
 */
export * from './ir/index.ts';
