/**
 * Errors of the CPU reference interpreter (reference.ts), shared by the files that evaluate its ops.
 */
import type { ParamError } from '../runtime/params.ts';
import type { ChoiceError } from './choice.ts';

export type RefError =
  | ParamError
  | ChoiceError
  | { readonly tag: 'BadBatch'; readonly batch: number; readonly message: string }
  | { readonly tag: 'MissingInput'; readonly name: string; readonly message: string }
  | { readonly tag: 'UnexpectedInput'; readonly name: string; readonly message: string }
  | { readonly tag: 'InputSize'; readonly name: string; readonly expected: number; readonly got: number; readonly message: string }
  | { readonly tag: 'AbsentValue'; readonly key: string; readonly consumer: string; readonly message: string }
  | { readonly tag: 'NotAParameter'; readonly node: string; readonly message: string }
  | { readonly tag: 'BatchNormSingleValue'; readonly node: string; readonly message: string }
  /** A cross-entropy label that is not a class index in [0, K) (labels are class indices stored as floats). */
  | { readonly tag: 'BadLabel'; readonly node: string; readonly sample: number; readonly label: number; readonly message: string };

/** Thrown inside one node's evaluation; caught by `evaluate`, which records it and skips the node's users. */
export class NodeFailure {
  constructor(readonly error: RefError) {}
}
