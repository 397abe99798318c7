/** Why instantiating or running a Program failed (a leaf module: execute.ts and param-pool.ts both use it). */
import type { BufferLimitError } from './buffer-limits.ts';
import type { GpuError } from './gpu-errors.ts';

/** One failure of `Executable`, naming the parameter, input, choice or GPU call at fault. */
export type ExecError =
  | { readonly tag: 'Gpu'; readonly error: GpuError; readonly message: string }
  | { readonly tag: 'MissingParam'; readonly path: string; readonly message: string }
  | { readonly tag: 'ParamSize'; readonly path: string; readonly expected: number; readonly got: number; readonly message: string }
  | { readonly tag: 'InputCount'; readonly expected: number; readonly got: number; readonly message: string }
  | { readonly tag: 'MissingInput'; readonly name: string; readonly message: string }
  | { readonly tag: 'InputSize'; readonly name: string; readonly expected: number; readonly got: number; readonly message: string }
  | { readonly tag: 'UnknownChoiceKey'; readonly key: string; readonly message: string }
  | { readonly tag: 'MissingChoice'; readonly key: string; readonly message: string }
  | { readonly tag: 'BadChoiceValue'; readonly key: string; readonly message: string }
  | { readonly tag: 'ChoiceKindMismatch'; readonly message: string }
  | { readonly tag: 'BadReadback'; readonly index: number; readonly message: string }
  | { readonly tag: 'UnknownScalar'; readonly name: string; readonly message: string }
  | { readonly tag: 'BadScalar'; readonly name: string; readonly value: number; readonly message: string }
  | { readonly tag: 'Destroyed'; readonly message: string }
  | { readonly tag: 'Unsupported'; readonly message: string }
  /** A buffer above the device's limits (checked before any is created). */
  | BufferLimitError;
