/**
 * `nasgraph run <model> [--arch arch.json] [--batch 64] [--mode fixed|sampled|mixed] [--iters 10] [--device NAME]
 * [--seed 0]`: compiles a model for the WebGPU device and runs inference on random inputs with parameters from
 * `initParams(seed)`, then prints the adapter, the program (dispatches, pipelines, peak memory), the output
 * shape and the throughput (one warm-up run, then `--iters` timed runs, each fenced by reading the outputs back).
 *
 * Modes: `fixed` applies the architecture and compiles the fixed graph; `sampled` compiles the whole supernet
 * once and selects the architecture's dispatches at run time; `mixed` computes every candidate and combines them
 * with run-time weights: one-hot weights of `--arch` when given, uniform weights otherwise (DARTS' starting
 * point). Without `--arch`, a model with choices runs its first architecture (NNI's standalone mode), and says so.
 *
 * Exit codes as the other commands: 0 ok; 1 model, architecture, lowering or device errors (one line each);
 * 2 wrong usage (bad flag value, missing file).
 *
 * @example
 * $ nasgraph run examples/mnist.ts --arch examples/archs/mnist-first.json --batch 64
 * $ nasgraph run examples/darts.ts --mode sampled --batch 16 --iters 5
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { adapterKind } from '../compile/kernels/tiles.ts';
import { lower } from '../compile/lower.ts';
import type { Mode, Program } from '../compile/program.ts';
import { type Architecture, type Graph, type Rng, apply, architectureFromJson, exportArchitecture, firstArchitecture, nextFloat, searchSpace, seedRng, showShape } from '../ir/index.ts';
import { bufferLimitError, bytesText } from '../runtime/buffer-limits.ts';
import { acquireDevice, type Gpu } from '../runtime/device.ts';
import { type ChoiceInput, Executable } from '../runtime/execute.ts';
import { initParams } from '../runtime/params.ts';
import { pipelineCacheFor } from '../runtime/pipeline-cache.ts';
import { loadModel } from '../runtime/load-model.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io, countFlag } from './io.ts';
import { reportLoadErrors } from './space.ts';

export interface RunOptions {
  /** Architecture file (NNI JSON); absent: the model's first architecture (mixed mode: uniform weights). */
  readonly arch?: string;
  readonly batch: number;
  readonly mode: Mode;
  /** Timed runs after the warm-up (0: only the warm-up run). */
  readonly iters: number;
  /** Text the adapter's name must contain (see `acquireDevice`). */
  readonly device?: string;
  readonly seed: number;
}

export const RUN_DEFAULTS = { batch: 64, mode: 'fixed', iters: 10, seed: 0 } as const satisfies Omit<RunOptions, 'arch' | 'device'>;

// ---------------------------------------------------------------------------------------------------------
// Helpers shared with the inference bench (bench/inference.ts)

/**
 * One array of values uniform in [-1, 1) per program input (`batch · numel(shape)` long), from `rng`.
 *
 * @example
 * const [inputs] = randomInputs(program, seedRng(1));
 */
export const randomInputs = (program: Program, rng: Rng): [readonly Float32Array[], Rng] => {
  let r = rng;
  const arrays = program.inputs.map((inp) => {
    const a = new Float32Array(program.batch * inp.shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < a.length; i++) {
      const [u, next] = nextFloat(r);
      a[i] = 2 * u - 1;
      r = next;
    }
    return a;
  });
  return [arrays, r];
};

/** Equal weights (1/count) for every choice of a program: a mixed-mode supernet at DARTS' initial α. */
export const uniformWeights = (program: Program): ChoiceInput => ({
  kind: 'mix',
  weights: Object.fromEntries(program.choices.map((c) => [c.key, Array.from({ length: c.count }, () => 1 / c.count)] as const)),
});

/** The device memory a program holds while it runs, in bytes. */
export interface ProgramMemory {
  /** Planned intermediate buffers (activations and scratch) after reuse: `Program.peakBytes`. */
  readonly activations: number;
  /** The same without reuse (`Program.unplannedBytes`), to show what the plan saves. */
  readonly unplanned: number;
  /** Parameter buffers. */
  readonly params: number;
  /** Inputs, outputs and choice-weight buffers (resident like parameters, but small). */
  readonly io: number;
  /** Everything at once: activations + params + io (readback staging buffers not counted). */
  readonly peak: number;
}

/** What a program's buffers add up to (see `ProgramMemory`). */
export const programMemory = (p: Program): ProgramMemory => {
  const sum = (roles: readonly string[]): number => p.buffers.filter((b) => roles.includes(b.role)).reduce((s, b) => s + b.bytes, 0);
  const params = sum(['param']);
  const io = sum(['input', 'output', 'choiceWeights']);
  return { activations: p.peakBytes, unplanned: p.unplannedBytes, params, io, peak: p.peakBytes + params + io };
};

/** Bytes in binary units, three significant digits or more: `812 B`, `3.52 KiB`, `37.1 MiB`, `1010 MiB`. */
export const formatBytes = bytesText;

/** Timings of a warm-up run and of the timed runs after it, in milliseconds. */
export interface RunTimings {
  readonly warmupMs: number;
  readonly runsMs: readonly number[];
}

/**
 * Times `runOnce` (which must wait for its own completion): one warm-up run, then `iters` timed runs. Stops at
 * the first failure and returns it.
 */
export const timeRuns = async <L>(runOnce: (i: number) => Promise<E.Either<L, unknown>>, iters: number): Promise<E.Either<L, RunTimings>> => {
  const t0 = performance.now();
  const first = await runOnce(0);
  if (E.isLeft(first)) return first;
  const warmupMs = performance.now() - t0;
  const runsMs: number[] = [];
  for (let i = 1; i <= iters; i++) {
    const t = performance.now();
    const r = await runOnce(i);
    if (E.isLeft(r)) return r;
    runsMs.push(performance.now() - t);
  }
  return E.right({ warmupMs, runsMs });
};

/** The median of a non-empty list. */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The adapter as the CLI prints it: its name, and that it runs on the CPU when it is a software adapter. */
export const describeAdapter = (gpu: Gpu): string => `${gpu.adapterInfo.name}${gpu.isSoftware ? ' — software (CPU) Vulkan: CPU figures, not GPU ones' : ''}`;

// ---------------------------------------------------------------------------------------------------------
// The command

const positiveInt = countFlag;

const integer = (v: string): number => {
  const n = Number(v);
  if (!/^\s*-?\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`the seed must be an integer, got '${v}'`);
  return n;
};

/**
 * Adds `run` to the `nasgraph` program, writing through `io` and reporting its exit code through `setCode`.
 *
 * @example
 * addRunCommand(program, io, setCode); // in buildProgram (src/cli/main.ts)
 */
export const addRunCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('run')
    .description('compile a model for the WebGPU device and time inference on random inputs (images/s, peak memory)')
    .argument('<model>', 'model file (.ts or .js) whose default export is a ModelDef')
    .option('--arch <file>', 'architecture JSON file (NNI value forms); default: the first architecture (mixed mode: uniform weights)')
    .option('--batch <n>', 'samples per run', positiveInt('--batch', 1), RUN_DEFAULTS.batch)
    .addOption(new Option('--mode <mode>', 'fixed: apply then compile; sampled: one supernet program, the architecture selected at run time; mixed: every candidate, weighted').choices(['fixed', 'sampled', 'mixed']).default(RUN_DEFAULTS.mode))
    .option('--iters <n>', 'timed runs after one warm-up run', positiveInt('--iters', 0), RUN_DEFAULTS.iters)
    .option('--device <name>', 'use the adapter whose name contains this text (e.g. llvmpipe, nvidia)')
    .option('--seed <s>', 'seed of the parameters and of the random inputs', integer, RUN_DEFAULTS.seed)
    .action(async (model: string, o: { arch?: string; batch: number; mode: Mode; iters: number; device?: string; seed: number }) => {
      const opts: RunOptions = {
        batch: o.batch,
        mode: o.mode,
        iters: o.iters,
        seed: o.seed,
        ...(o.arch === undefined ? {} : { arch: o.arch }),
        ...(o.device === undefined ? {} : { device: o.device }),
      };
      setCode(await runCommand(model, opts, io));
    });

const readArchFile = async (file: string): Promise<E.Either<string, string>> => {
  try {
    return E.right(await readFile(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
    return E.left(`error: ${file}: ${why}\n`);
  }
};

/** The architecture shown in one line: NNI's export form, or only its size when that would be long. */
const showArch = (graph: Graph, arch: Architecture): string => {
  const text = JSON.stringify(exportArchitecture(searchSpace(graph), arch));
  return text.length <= 120 ? text : `${Object.keys(arch).length} decisions`;
};

/** Runs `run`; returns the exit code. */
export const runCommand = async (model: string, o: RunOptions, io: Io): Promise<number> => {
  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  const { def, graph } = loaded.right;
  const space = searchSpace(graph);
  const hasChoices = space.decisions.length > 0;

  // The architecture: from the file, or the first one; mixed mode without a file runs uniform weights.
  let arch: Architecture = {};
  let archLine: string;
  if (o.arch !== undefined) {
    const text = await readArchFile(o.arch);
    if (E.isLeft(text)) {
      io.err(text.left);
      return EXIT_USAGE;
    }
    const resolved = architectureFromJson(space, text.right);
    if (E.isLeft(resolved)) {
      for (const e of resolved.left) io.err(`error: ${o.arch}: ${e.message}\n`);
      return EXIT_ERRORS;
    }
    arch = resolved.right;
    archLine = `${o.arch} ${showArch(graph, arch)}`;
  } else if (!hasChoices) {
    archLine = 'none (the model has no choices)';
  } else if (o.mode === 'mixed') {
    archLine = 'none given: uniform weights over every candidate';
  } else {
    arch = firstArchitecture(space);
    archLine = `none given: the first architecture ${showArch(graph, arch)}`;
  }

  let target: Graph = graph;
  if (o.mode === 'fixed' && hasChoices) {
    const fixed = apply(graph, arch);
    if (E.isLeft(fixed)) {
      for (const e of fixed.left) io.err(`error: ${o.arch ?? 'the first architecture'}: applying it to ${model}: ${e.message}\n`);
      return EXIT_ERRORS;
    }
    target = fixed.right;
  }

  const gpuR = await acquireDevice(o.device === undefined ? {} : { adapter: o.device });
  if (E.isLeft(gpuR)) {
    io.err(`error: ${gpuR.left.message}\n`);
    return EXIT_ERRORS;
  }
  const gpu = gpuR.right;
  try {
    return await runOnDevice(gpu, { model, def, graph: target, arch, archLine }, o, io);
  } finally {
    // Releases Dawn's instance too: while it is referenced, Node does not exit.
    gpu.destroy();
  }
};

interface Target {
  readonly model: string;
  readonly def: { readonly name: string; readonly description?: string };
  readonly graph: Graph;
  readonly arch: Architecture;
  readonly archLine: string;
}

const runOnDevice = async (gpu: Gpu, t: Target, o: RunOptions, io: Io): Promise<number> => {
  const fail = (what: string, errors: readonly { readonly message: string }[]): number => {
    for (const e of errors) io.err(`error: ${what}: ${e.message}\n`);
    return EXIT_ERRORS;
  };
  io.out(`adapter     ${describeAdapter(gpu)}\n`);
  io.out(`model       ${t.def.name} (${t.model})${t.def.description === undefined ? '' : ` — ${t.def.description}`}\n`);
  io.out(`arch        ${t.archLine}\n`);
  io.out(`mode        ${o.mode}, batch ${o.batch}\n`);

  const program = lower(t.graph, { mode: o.mode, batch: o.batch, adapter: adapterKind(gpu.adapterInfo) });
  if (E.isLeft(program)) return fail(`compiling ${t.model}`, program.left);
  const p = program.right;
  // Before the inputs are generated: a batch of a billion images would overflow even the CPU arrays.
  const tooBig = bufferLimitError(p, gpu.limits);
  if (tooBig !== undefined) return fail(t.model, [tooBig]);
  const [params, rng] = initParams(t.graph, seedRng(o.seed));
  const [inputs] = randomInputs(p, rng);

  const cache = pipelineCacheFor(gpu.device);
  const before = cache.creations;
  const t0 = performance.now();
  const exe = await Executable.instantiate(gpu, p, params);
  if (E.isLeft(exe)) return fail(`instantiating ${t.model}`, exe.left);
  const compileS = (performance.now() - t0) / 1000;
  try {
    const choice: ChoiceInput | undefined = p.choices.length === 0 ? undefined : o.mode === 'mixed' && o.arch === undefined ? uniformWeights(p) : { kind: 'select', arch: t.arch };
    let outputs: readonly Float32Array[] = [];
    const timed = await timeRuns(async () => {
      const r = await exe.right.run(choice === undefined ? { inputs } : { inputs, choice });
      if (E.isRight(r)) outputs = r.right;
      return r;
    }, o.iters);
    if (E.isLeft(timed)) return fail(`running ${t.model}`, timed.left);

    const mem = programMemory(p);
    const selected = p.mode === 'sampled' && p.dispatches.some((d) => d.group !== undefined) ? ' (all groups; a run records only the selected ones)' : '';
    io.out(`program     ${p.dispatches.length} dispatches${selected}, ${p.kernels.length} pipelines (${cache.creations - before} created), set up in ${compileS.toFixed(2)} s\n`);
    io.out(
      `memory      peak ${formatBytes(mem.peak)}: activations ${formatBytes(mem.activations)} (planned; ${formatBytes(mem.unplanned)} without reuse)` +
        ` + parameters ${formatBytes(mem.params)} + inputs/outputs ${formatBytes(mem.io)}\n`,
    );
    p.outputs.forEach((out, i) => {
      const v = outputs[i] ?? new Float32Array(0);
      const bad = v.reduce((n, x) => n + (Number.isFinite(x) ? 0 : 1), 0);
      const name = p.outputs.length > 1 ? `output ${i}`.padEnd(12) : 'output      ';
      io.out(`${name}${showShape(out.shape)} per sample, ${showShape([o.batch, ...out.shape])} per batch, ${bad === 0 ? 'all finite' : `${bad} non-finite values`}\n`);
    });
    const { warmupMs, runsMs } = timed.right;
    if (runsMs.length === 0) {
      io.out(`throughput  not measured (--iters 0); the warm-up run took ${warmupMs.toFixed(1)} ms\n`);
    } else {
      const mean = runsMs.reduce((s, x) => s + x, 0) / runsMs.length;
      io.out(
        `throughput  ${(o.batch / (mean / 1000)).toFixed(1)} images/s, ${mean.toFixed(2)} ms per batch (median ${median(runsMs).toFixed(2)} ms;` +
          ` ${runsMs.length} timed run${runsMs.length === 1 ? '' : 's'} after a ${warmupMs.toFixed(1)} ms warm-up, each read back)\n`,
      );
    }
    return EXIT_OK;
  } finally {
    exe.right.destroy();
  }
};
