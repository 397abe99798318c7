/**
 * Reading run directories for the NAS UI (the effects; decoding is in decode.ts, views in view-model.ts). Only
 * reads: nothing is ever written into a run directory.
 *
 * `discoverRuns(roots)` lists every run directory at or under each root (depth ≤ 3): a directory holding any of
 * search.json, experiment.json, trials.jsonl, history.json, result.json. A root that holds none and has none
 * below is listed as not an experiment, with the reason.
 *
 * @example
 * const { runs, others } = discoverRuns(['runs']);
 * const files = readRun(runs[0]!); // RunFiles: decoded files, problems, modification times
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { type Graph } from '../ir/graph.ts';
import { loadModel } from '../runtime/load-model.ts';
import { decodeJsonText, experimentCodec, exportedArchCodec, historyCodec, parseTrialsText, resultCodec, savedStateCodec, settingsCodec } from './decode.ts';
import type { NotAnExperiment, RunFiles } from './view-model.ts';

/** The files of a run that the UI reads (and watches). */
export const RUN_FILES = ['search.json', 'experiment.json', 'trials.jsonl', 'state.json', 'history.json', 'arch.json', 'result.json'] as const;
const MARKERS = ['search.json', 'experiment.json', 'trials.jsonl', 'history.json', 'result.json'];

/** A run directory found under a root: its id (unique, URL-safe path) and absolute directory. */
export interface RunRef {
  readonly id: string;
  readonly dir: string;
  /** The model file the run's graph is built from, when the server was told it. */
  readonly model?: string | undefined;
}

const isRunDir = (dir: string): boolean => MARKERS.some((f) => fs.existsSync(path.join(dir, f)));

const subdirs = (dir: string): string[] => {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && d.name !== 'node_modules')
      .map((d) => path.join(dir, d.name))
      .sort();
  } catch {
    return [];
  }
};

/**
 * Every run directory at or under `roots` (see the module comment); ids are the root's base name joined with the
 * path below it, made unique. Roots that are not experiments are returned in `others` with the reason.
 */
export const discoverRuns = (roots: readonly string[], maxDepth = 3): { readonly runs: readonly RunRef[]; readonly others: readonly NotAnExperiment[] } => {
  const runs: RunRef[] = [];
  const others: NotAnExperiment[] = [];
  const ids = new Set<string>();
  const unique = (id: string): string => {
    let out = id;
    for (let i = 2; ids.has(out); i++) out = `${id}-${i}`;
    ids.add(out);
    return out;
  };
  for (const root of roots) {
    const abs = path.resolve(root);
    const base = path.basename(abs) || 'root';
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      others.push({ id: unique(base), dir: abs, reason: 'no such directory' });
      continue;
    }
    if (!st.isDirectory()) {
      others.push({ id: unique(base), dir: abs, reason: 'not a directory' });
      continue;
    }
    const found: string[] = [];
    const walk = (dir: string, depth: number): void => {
      if (isRunDir(dir)) {
        found.push(dir);
        return;
      }
      if (depth < maxDepth) for (const d of subdirs(dir)) walk(d, depth + 1);
    };
    walk(abs, 0);
    if (found.length === 0) {
      others.push({ id: unique(base), dir: abs, reason: `not an experiment: no ${MARKERS.join(', ')} here or in a subdirectory` });
      continue;
    }
    for (const dir of found) {
      const rel = path.relative(abs, dir);
      runs.push({ id: unique((rel === '' ? base : `${base}/${rel}`).split(path.sep).join('/').replace(/[^A-Za-z0-9._/-]/g, '_')), dir });
    }
  }
  return { runs, others };
};

const readIfPresent = (file: string): { text: string; mtimeMs: number } | undefined | { error: string } => {
  try {
    const mtimeMs = fs.statSync(file).mtimeMs;
    return { text: fs.readFileSync(file, 'utf8'), mtimeMs };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? undefined : { error: `${file}: ${code ?? (e instanceof Error ? e.message : String(e))}` };
  }
};

/** Reads and decodes the files of a run directory (never throws: what cannot be read is a problem). */
export const readRun = (ref: RunRef): RunFiles => {
  const problems: string[] = [];
  const times: number[] = [];
  const texts = new Map<string, string>();
  for (const name of RUN_FILES) {
    const r = readIfPresent(path.join(ref.dir, name));
    if (r === undefined) continue;
    if ('error' in r) {
      problems.push(r.error);
      continue;
    }
    texts.set(name, r.text);
    times.push(r.mtimeMs);
  }
  const json = <A>(name: string, codec: Parameters<typeof decodeJsonText<A>>[0]): A | undefined => {
    const text = texts.get(name);
    if (text === undefined) return undefined;
    const r = decodeJsonText(codec, name, text);
    if (E.isLeft(r)) {
      problems.push(r.left);
      return undefined;
    }
    return r.right;
  };
  const trialsText = texts.get('trials.jsonl');
  const trials = trialsText === undefined ? { records: [], problems: [], partialLine: false } : parseTrialsText('trials.jsonl', trialsText);
  problems.push(...trials.problems);
  const result = json('result.json', resultCodec);
  return {
    id: ref.id,
    dir: ref.dir,
    settings: json('search.json', settingsCodec),
    experiment: json('experiment.json', experimentCodec),
    trials: trials.records,
    state: json('state.json', savedStateCodec),
    history: json('history.json', historyCodec),
    arch: json('arch.json', exportedArchCodec),
    result,
    problems,
    lastWriteMs: times.length === 0 ? 0 : Math.max(...times),
    firstWriteMs: times.length === 0 ? 0 : Math.min(...times),
    model: ref.model ?? result?.model,
  };
};

/**
 * The model graph of a run, from its model file (`ref.model`, else result.json's `model`, resolved against the
 * working directory); left with a one-line reason when there is none or it does not build.
 */
export const loadRunGraph = async (files: RunFiles): Promise<E.Either<string, Graph>> => {
  if (files.model === undefined) return E.left('the model file is not known yet (result.json names it when the search ends; or give --model)');
  const file = path.resolve(files.model);
  if (!fs.existsSync(file)) return E.left(`the model file ${files.model} does not exist (relative paths are read from the working directory; give --model)`);
  const loaded = await loadModel(file);
  return E.isLeft(loaded) ? E.left(loaded.left.map((e) => e.message).join('; ')) : E.right(loaded.right.graph);
};
