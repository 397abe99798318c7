/**
 * Errors of decoding an architecture (a choice map) against a search space: a tagged union, each with a human
 * message that names the key, the value at fault and what was expected. `resolveArchitecture` and
 * `parseArchitectureJson` collect every one of them instead of stopping at the first.
 */

export type ArchError =
  /** A key of the JSON that no decision of the space has. */
  | { readonly tag: 'UnknownKey'; readonly key: string; readonly message: string }
  /** A decision of the space that the JSON does not mention. */
  | { readonly tag: 'MissingKey'; readonly key: string; readonly message: string }
  /** A string that is not a candidate name, or any name where the candidates cannot be named (unnamed inputs). */
  | { readonly tag: 'UnknownName'; readonly key: string; readonly name: string; readonly candidates: readonly string[]; readonly message: string }
  | { readonly tag: 'IndexOutOfRange'; readonly key: string; readonly index: number; readonly count: number; readonly message: string }
  /** The same candidate listed twice (by index, by name, or once by each). */
  | { readonly tag: 'DuplicateIndex'; readonly key: string; readonly index: number; readonly message: string }
  /** Not exactly one candidate for a layer choice, or not `nChosen` inputs for an input choice. */
  | { readonly tag: 'WrongCount'; readonly key: string; readonly got: number; readonly expected: number; readonly message: string }
  /** A multi-hot or weight list whose length is not the candidate count. */
  | { readonly tag: 'MultiHotLength'; readonly key: string; readonly length: number; readonly count: number; readonly message: string }
  /** A value of none of the accepted forms; `key` is null when the top level is not an object. */
  | { readonly tag: 'WrongType'; readonly key: string | null; readonly value: unknown; readonly message: string }
  /** The same key twice in the JSON text with different values (JSON.parse would silently keep the last). */
  | { readonly tag: 'SharedKeyConflict'; readonly key: string; readonly values: readonly unknown[]; readonly message: string }
  /** A syntax error; `position` is a 0-based offset into the text, `line` and `column` are 1-based. */
  | { readonly tag: 'InvalidJson'; readonly position: number; readonly line: number; readonly column: number; readonly message: string };

export type ArchErrorTag = ArchError['tag'];

/** A JSON rendering of `v` for messages, shortened so that a huge value does not drown the message. */
export const showValue = (v: unknown, max = 80): string => {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};
