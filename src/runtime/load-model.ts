/**
 * Loading a model file (.ts or .js): resolve the path, import the module, take its default export (a
 * `ModelDef`, or a function of no arguments returning one) and build it. Every failure is a `LoadError` naming
 * the file; build errors are all reported, one `LoadError` each.
 *
 * TypeScript model files need a TypeScript-aware loader in the process (the `nasgraph` bin registers tsx;
 * vitest transforms them itself).
 *
 * @example
 * const r = await loadModel('examples/darts.ts');
 * if (E.isRight(r)) console.log(r.right.def.name, searchSpace(r.right.graph).size);
 * else for (const e of r.left) console.error(e.message);
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { type Graph, type IRError, type ModelDef, buildModel } from '../ir/index.ts';

export type LoadError =
  /** No such file (or it is a directory). */
  | { readonly tag: 'FileNotFound'; readonly file: string; readonly message: string }
  /** The module could not be imported: a syntax error, a missing import, an exception at top level. */
  | { readonly tag: 'ImportFailed'; readonly file: string; readonly message: string }
  /** The module has no default export, or it is neither a ModelDef nor a function of no arguments returning one. */
  | { readonly tag: 'NotAModel'; readonly file: string; readonly message: string }
  /** One error of building the model (shape mismatch, key conflict, …). */
  | { readonly tag: 'BuildFailed'; readonly file: string; readonly error: IRError; readonly message: string };

export interface LoadedModel {
  readonly def: ModelDef;
  readonly graph: Graph;
  /**
   * The module's optional `deeper` export: `(addLayers: number) => ModelDef`, the same space with `addLayers` more
   * cells (P-DARTS' growing stages). Absent: P-DARTS keeps the depth of the default export.
   */
  readonly deeper?: (addLayers: number) => ModelDef;
}

/** One line from an error's message: loaders put file positions and code frames on several lines. */
const oneLine = (e: unknown): string => {
  const msg = e instanceof Error ? e.message : String(e);
  return msg
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
};

/**
 * Where in the model file `e` was thrown (`:line:column`, from its stack — tsx maps it back to the .ts source), or,
 * when the model file is not on the stack, the first frame outside node and node_modules (`path:line:column`, a
 * module the model imports, as ` (thrown at path:line:column)`). Undefined when neither is (a syntax error reports its position in the message).
 */
export const throwSite = (e: unknown, abs: string): string | undefined => {
  const stack = e instanceof Error && typeof e.stack === 'string' ? e.stack : '';
  // Only frames of files on disk ("at f (/abs/x.ts:3:9)", "at /abs/x.ts:3:9", "file:///…"), not node's internals.
  const frames = [...stack.matchAll(/(?:\(|at )((?:file:\/\/)?\/[^\s()]+?):(\d+):(\d+)\)?$/gm)].map((m) => ({ path: m[1]!.replace(/^file:\/\//, ''), line: m[2]!, col: m[3]! }));
  const own = frames.find((f) => f.path === abs);
  if (own !== undefined) return `:${own.line}:${own.col}`;
  const other = frames.find((f) => !f.path.includes('/node_modules/') && existsSync(f.path));
  return other === undefined ? undefined : ` (thrown at ${other.path}:${other.line}:${other.col})`;
};

const isPositiveIntArray = (v: unknown): v is readonly number[] =>
  Array.isArray(v) && v.length > 0 && v.every((d) => Number.isInteger(d) && d > 0);

/** What is wrong with `v` as a ModelDef (empty when it is one). */
export const modelDefProblems = (v: unknown): readonly string[] => {
  if (typeof v !== 'object' || v === null) return [`expected a ModelDef object, got ${v === null ? 'null' : typeof v}`];
  const o = v as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof o['name'] !== 'string') problems.push(`'name' must be a string`);
  if (!isPositiveIntArray(o['input'])) problems.push(`'input' must be a per-sample shape such as [1, 28, 28]`);
  if (typeof o['layer'] !== 'function') problems.push(`'layer' must be a layer (a function of a context and an input)`);
  return problems;
};

const describeExports = (mod: Record<string, unknown>): string => {
  const models = Object.keys(mod).filter((k) => k !== 'default' && modelDefProblems(mod[k]).length === 0);
  return models.length > 0 ? ` (it exports the ModelDef${models.length > 1 ? 's' : ''} ${models.join(', ')}; export one as default)` : '';
};

/** The ModelDef a module's default export stands for. */
const defOf = (file: string, mod: Record<string, unknown>): E.Either<LoadError, ModelDef> => {
  const notAModel = (message: string): E.Either<LoadError, ModelDef> => E.left({ tag: 'NotAModel', file, message: `${file}: ${message}` });
  let d = mod['default'];
  if (d === undefined) return notAModel(`has no default export${describeExports(mod)}`);
  if (typeof d === 'function') {
    if (d.length > 0) return notAModel(`the default export is a function of ${d.length} argument(s); expected a ModelDef or a function of no arguments returning one`);
    try {
      d = (d as () => unknown)();
    } catch (e) {
      return notAModel(`the default export threw when called: ${oneLine(e)}`);
    }
  }
  const problems = modelDefProblems(d);
  return problems.length > 0 ? notAModel(`the default export is not a ModelDef: ${problems.join('; ')}`) : E.right(d as ModelDef);
};

/**
 * Imports the model file `file` (relative to the working directory) and builds its default export.
 *
 * @example
 * await loadModel('examples/mnist.ts'); // right({ def: { name: 'mnist', … }, graph })
 * await loadModel('nope.ts');           // left([{ tag: 'FileNotFound', message: 'nope.ts: no such file …' }])
 */
export const loadModel = async (file: string): Promise<E.Either<readonly LoadError[], LoadedModel>> => {
  const abs = resolve(file);
  const isFile = await stat(abs).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!isFile) return E.left([{ tag: 'FileNotFound', file, message: `${file}: no such file (looked for ${abs})` }]);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    const at = throwSite(e, abs);
    return E.left([{ tag: 'ImportFailed', file, message: `${file}${at === undefined ? '' : at}: import failed: ${oneLine(e)}` }]);
  }
  const def = defOf(file, mod);
  if (E.isLeft(def)) return E.left([def.left]);
  const built = buildModel(def.right);
  if (E.isLeft(built)) {
    return E.left(built.left.map((error) => ({ tag: 'BuildFailed', file, error, message: `${file}: ${error.message}` }) as const));
  }
  const deeper = mod['deeper'];
  return E.right({ def: def.right, graph: built.right, ...(typeof deeper === 'function' ? { deeper: deeper as (addLayers: number) => ModelDef } : {}) });
};
