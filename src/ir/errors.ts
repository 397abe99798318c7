/**
 * Errors of the IR, as a tagged union with a human message.
 *
 * Combinators throw a `GraphError` (an `Error` carrying one of these) at construction, because a model
 * definition is user code written in an imperative style; module boundaries (`buildModel`, `resolveArchitecture`,
 * `apply`, `decodeGraph`) catch and return `Either<readonly IRError[], T>` with every error found.
 */
import type { Shape } from './shape.ts';

export type IRError =
  | { readonly tag: 'ShapeMismatch'; readonly node: string; readonly op: string; readonly shapes: readonly Shape[]; readonly message: string }
  | { readonly tag: 'InvalidAttribute'; readonly node: string; readonly op: string; readonly message: string }
  | { readonly tag: 'CandidateShapes'; readonly key: string; readonly node: string; readonly candidates: readonly { readonly name: string; readonly shape: Shape }[]; readonly message: string }
  | { readonly tag: 'KeyConflict'; readonly key: string; readonly sites: readonly [string, string]; readonly message: string }
  | { readonly tag: 'DuplicateSite'; readonly key: string; readonly node: string; readonly message: string }
  | { readonly tag: 'ParamConflict'; readonly path: string; readonly message: string }
  | { readonly tag: 'AbsentValue'; readonly key: string; readonly consumer: string; readonly message: string }
  | { readonly tag: 'BuildFailed'; readonly message: string };

/** An `Error` wrapping one `IRError`, thrown by combinators and caught at module boundaries. */
export class GraphError extends Error {
  readonly detail: IRError;
  constructor(detail: IRError) {
    super(detail.message);
    this.name = 'GraphError';
    this.detail = detail;
  }
}

export const fail = (detail: IRError): never => {
  throw new GraphError(detail);
};

/** Converts anything thrown while building a model into an `IRError` (keeping a GraphError's detail). */
export const toIRError = (e: unknown): IRError =>
  e instanceof GraphError
    ? e.detail
    : { tag: 'BuildFailed', message: e instanceof Error ? e.message : String(e) };
