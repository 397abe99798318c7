/**
 * `nasgraph space <model> [--json]`: the decisions of a model's search space and its exact size, as a table,
 * or with `--json` exactly NNI's `nnictl ss_gen` file (sorted keys, 2-space indent).
 *
 * @example
 * $ nasgraph space examples/mnist.ts
 * $ nasgraph space examples/darts.ts --json > search_space.json
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Decision, type SearchSpace, searchSpace, ssGen } from '../ir/index.ts';
import { type LoadError, loadModel } from '../runtime/load-model.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import { pythonJson } from './python-json.ts';

export interface SpaceOptions {
  readonly json?: boolean;
}

/** Pads every column but the last to its widest cell. */
export const formatTable = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
};

const candidates = (d: Decision): string =>
  d.names.every((n) => n === '') ? `${d.names.length} unnamed input${d.names.length === 1 ? '' : 's'}` : d.names.map((n) => (n === '' ? '""' : n)).join(', ');

const chooses = (d: Decision): string => (d.kind === 'layer' ? '1' : d.nChosen === null ? 'any' : String(d.nChosen));

/** A bigint, with its order of magnitude when it is long: `626707144888223764167681638400 (≈ 6.27e29)`. */
export const showCount = (n: bigint): string => {
  const s = n.toString();
  if (s.length <= 6) return s;
  const approx = Number(n);
  // Beyond a double's range, the leading digits (truncated) still tell the magnitude.
  const e = Number.isFinite(approx) ? approx.toExponential(2).replace('e+', 'e') : `${s[0]}.${s.slice(1, 3)}e${s.length - 1}`;
  return `${s} (≈ ${e})`;
};

/** The human-readable listing of a search space. */
export const formatSpace = (space: SearchSpace): string => {
  const rows = space.decisions.map((d) => [
    d.key,
    d.kind,
    chooses(d),
    d.scope.length > 0 ? d.scope.join('/') : '-',
    candidates(d),
    `${d.sites.length}: ${d.sites.join(', ')}`,
  ]);
  const table = formatTable(['KEY', 'KIND', 'CHOOSE', 'SCOPE', 'CANDIDATES', 'SITES'], rows);
  const n = space.decisions.length;
  return `${table}\n\n${n} decision${n === 1 ? '' : 's'}, ${showCount(space.size)} architecture${space.size === 1n ? '' : 's'}\n`;
};

/** Writes load errors one per line; a missing file is a usage error (exit 2), anything else exit 1. */
export const reportLoadErrors = (io: Io, errors: readonly LoadError[]): number => {
  for (const e of errors) io.err(`error: ${e.message}\n`);
  return errors.some((e) => e.tag === 'FileNotFound') ? EXIT_USAGE : EXIT_ERRORS;
};

/** Runs `space`; returns the exit code. */
export const spaceCommand = async (model: string, o: SpaceOptions, io: Io): Promise<number> => {
  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  const { def, graph } = loaded.right;
  const space = searchSpace(graph);
  if (o.json === true) {
    io.out(`${pythonJson(ssGen(space))}\n`);
  } else {
    const about = def.description === undefined ? '' : ` — ${def.description}`;
    io.out(`${def.name}${about}\ninput [${def.input.join(', ')}]\n\n${formatSpace(space)}`);
  }
  return EXIT_OK;
};
