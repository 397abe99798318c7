/**
 * Reading an architecture file: `JSON.parse` semantics, plus what `JSON.parse` hides. A key given twice in the
 * top-level object with different values is a conflict (JSON.parse would silently keep the last one, so a
 * hand-edited file could choose a candidate the user never meant); a syntax error is reported with its
 * position, line and column. Never throws.
 *
 * The check is a small iterative scanner over the text (no recursion, so deeply nested input cannot overflow
 * the stack) that validates the JSON grammar and records the spans of the top-level members; the value itself
 * is then built by `JSON.parse`.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { ArchError } from './architecture-errors.ts';
import { showValue } from './architecture-errors.ts';
import { canonicalJson } from './hash.ts';

interface Member {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

type ScanResult = { readonly ok: true; readonly members: readonly Member[] } | { readonly ok: false; readonly position: number; readonly why: string };

/** Thrown inside the scanner only, to unwind to `scan`'s catch; never escapes this module. */
class SyntaxFault extends Error {
  readonly position: number;
  constructor(position: number, why: string) {
    super(why);
    this.position = position;
  }
}

const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);

const describe = (c: string | undefined): string => (c === undefined ? 'the end of the text' : `${JSON.stringify(c)}`);

/** Validates `text` as JSON and returns the key and value span of every member of a top-level object. */
const scan = (text: string): ScanResult => {
  let i = 0;
  const fault = (why: string): never => {
    throw new SyntaxFault(i, `${why}, found ${describe(text[i])}`);
  };
  const ws = (): void => {
    while (isWs(text[i])) i++;
  };
  const literal = (word: string): void => {
    for (const ch of word) {
      if (text[i] !== ch) fault(`expected '${word}'`);
      i++;
    }
  };
  const str = (): void => {
    if (text[i] !== '"') fault('expected a string');
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) fault('unterminated string');
      if (c === '"') {
        i++;
        return;
      }
      if (c! < ' ') fault('control character in string (escape it)');
      if (c === '\\') {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) {
            if (!isHex(text[i + k])) {
              i += k;
              fault('expected 4 hex digits after \\u');
            }
          }
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fault('invalid escape');
      } else i++;
    }
  };
  const num = (): void => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (isDigit(text[i])) while (isDigit(text[i])) i++;
    else fault('expected a digit');
    if (text[i] === '.') {
      i++;
      if (!isDigit(text[i])) fault('expected a digit after the decimal point');
      while (isDigit(text[i])) i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!isDigit(text[i])) fault('expected a digit in the exponent');
      while (isDigit(text[i])) i++;
    }
  };

  const stack: ('[' | '{')[] = [];
  const members: Member[] = [];
  let key = '';
  let memberStart = 0;
  const atTopObject = (): boolean => stack.length === 1 && stack[0] === '{';
  /** After `,` or `{` in an object: `"key" :`. */
  const keyColon = (): void => {
    ws();
    const start = i;
    if (text[i] !== '"') fault('expected a double-quoted property name');
    str();
    if (atTopObject()) key = JSON.parse(text.slice(start, i)) as string;
    ws();
    if (text[i] !== ':') fault(`expected ':' after a property name`);
    i++;
  };

  try {
    let expectValue = true;
    for (;;) {
      if (expectValue) {
        ws();
        if (atTopObject()) memberStart = i;
        const c = text[i];
        if (c === '{' || c === '[') {
          i++;
          ws();
          const close = c === '{' ? '}' : ']';
          if (text[i] === close) i++;
          else {
            stack.push(c);
            if (c === '{') keyColon();
            continue; // a value follows
          }
        } else if (c === '"') str();
        else if (c === '-' || isDigit(c)) num();
        else if (c === 't') literal('true');
        else if (c === 'f') literal('false');
        else if (c === 'n') literal('null');
        else fault('expected a value');
        expectValue = false;
      }
      // A value just ended at i.
      if (atTopObject()) members.push({ key, start: memberStart, end: i });
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) {
        if (i < text.length) fault('unexpected text after the JSON value');
        return { ok: true, members };
      }
      const c = text[i];
      if (c === ',') {
        i++;
        if (top === '{') keyColon();
        expectValue = true;
      } else if ((top === '[' && c === ']') || (top === '{' && c === '}')) {
        i++;
        stack.pop(); // the container is the value that just ended
      } else fault(top === '[' ? `expected ',' or ']'` : `expected ',' or '}'`);
    }
  } catch (e) {
    if (e instanceof SyntaxFault) return { ok: false, position: e.position, why: e.message };
    throw e;
  }
};

const lineColumn = (text: string, position: number): { line: number; column: number } => {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < position && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
};

const invalid = (text: string, position: number, why: string): ArchError => {
  const { line, column } = lineColumn(text, position);
  return { tag: 'InvalidJson', position, line, column, message: `invalid JSON at line ${line}, column ${column} (position ${position}): ${why}` };
};

/**
 * Parses an architecture file with `JSON.parse` semantics, but reports a top-level key given twice with
 * different values (`SharedKeyConflict`; identical repetitions are accepted) and a syntax error with its
 * position (`InvalidJson`). Never throws. The result is still `unknown`: `resolveArchitecture` checks it
 * against a search space.
 *
 * @example
 * parseArchitectureJson('{"conv1": "conv5x5", "skip": []}'); // right({ conv1: 'conv5x5', skip: [] })
 * parseArchitectureJson('{"conv1": 0, "conv1": 1}');          // left([{ tag: 'SharedKeyConflict', key: 'conv1', ... }])
 */
export const parseArchitectureJson = (text: string): E.Either<readonly ArchError[], unknown> => {
  const scanned = scan(text);
  if (!scanned.ok) return E.left([invalid(text, scanned.position, scanned.why)]);
  const byKey = new Map<string, Member[]>();
  for (const m of scanned.members) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m]);
  const errors: ArchError[] = [];
  for (const [key, ms] of byKey) {
    if (ms.length < 2) continue;
    const values = ms.map((m) => JSON.parse(text.slice(m.start, m.end)) as unknown);
    const distinct = new Map(values.map((v) => [canonicalJson(v), v] as const));
    if (distinct.size > 1) {
      errors.push({
        tag: 'SharedKeyConflict',
        key,
        values: [...distinct.values()],
        message: `key '${key}' is given ${ms.length} times with different values (${[...distinct.values()].map((v) => showValue(v)).join(' and ')}); give it once`,
      });
    }
  }
  if (errors.length > 0) return E.left(errors);
  try {
    return E.right(JSON.parse(text) as unknown);
  } catch (e) {
    // The scanner accepts exactly JSON's grammar, so this is not expected; still, never throw.
    return E.left([invalid(text, 0, e instanceof Error ? e.message : String(e))]);
  }
};
