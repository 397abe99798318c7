/**
 * `nasgraph retrain <model> --arch arch.json --data fashion-mnist|synthetic --epochs N --out DIR`: trains the fixed
 * architecture from scratch (or from supernet weights with `--init supernet.safetensors`, matched by parameter
 * path, a PyTorch '.'-name matching too) on the device, printing the adapter, the progress (a bar on a terminal,
 * one line per epoch otherwise, on stderr) and the test accuracy (top-1 and top-5); writes
 * `DIR/weights.safetensors` (the model's parameters and BatchNorm statistics, by path), `DIR/metrics.json` and,
 * after every epoch, `DIR/checkpoint.safetensors`, from which `--resume` continues.
 *
 * Exit codes: 0 ok; 1 errors of the model, architecture, data, initial weights, device or training (one line
 * each); 2 wrong usage (bad flag value, a missing file given on the command line).
 *
 * @example
 * $ nasgraph retrain examples/mnist.ts --arch examples/archs/mnist-first.json --data fashion-mnist --epochs 1 --out runs/mnist
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { OptimizerKind, OptimizerSpec } from '../compile/optimizer.ts';
import type { LrSchedule } from '../compile/schedule.ts';
import { type Architecture, type Graph, apply, exportArchitecture, searchSpace } from '../ir/index.ts';
import { parseArchitectureJson, resolveArchitecture } from '../ir/architecture.ts';
import { metricsJson, writeWeights } from '../runtime/checkpoint.ts';
import { type TrainTest, loadFashionMnist } from '../runtime/data/fashion-mnist.ts';
import { syntheticTrainTest } from '../runtime/data/synthetic.ts';
import { subset } from '../runtime/data/batches.ts';
import { acquireDevice } from '../runtime/device.ts';
import { loadModel } from '../runtime/load-model.ts';
import { paramShapes } from '../runtime/params.ts';
import { progressReporter } from '../runtime/progress.ts';
import { matchParameters, readSafetensorsFile } from '../runtime/safetensors.ts';
import { train } from '../runtime/train.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io, batchExceeds, countFlag, processIo } from './io.ts';
import { ONE_SHOT_DEFAULTS } from './oneshot.ts';
import { lockOut, prepareOut } from './out-dir.ts';
import { reportLoadErrors } from './space.ts';

export interface RetrainOptions {
  readonly arch?: string;
  readonly data: 'fashion-mnist' | 'synthetic';
  readonly dataDir?: string;
  readonly epochs: number;
  readonly batch: number;
  readonly optimizer: OptimizerKind;
  /** Absent: the optimizer's default (SGD: 0.01). */
  readonly lr?: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
  readonly schedule: 'constant' | 'cosine' | 'step';
  readonly clip?: number;
  readonly labelSmoothing: number;
  readonly out: string;
  readonly init?: string;
  readonly device?: string;
  readonly resume: boolean;
  readonly seed: number;
  /** Use only the first N training / test samples (quick runs). */
  readonly trainSize?: number;
  readonly testSize?: number;
}

const flagName = (k: string): string => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The retrain settings a search directory's search.json implies (either kind of search), and where they came from. */
export interface FromSearch {
  readonly file: string;
  /** Option values by `RetrainOptions` key (`arch` included). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** For the user: e.g. "adam lr 0.003, batch 32, 2 epochs, fashion-mnist, seed 0, arch runs/darts/arch.json". */
  readonly describe: string;
}

const searchJsonCodec = t.intersection([
  t.type({ data: t.keyof({ 'fashion-mnist': null, synthetic: null }), batch: t.number, seed: t.number, retrainEpochs: t.number }),
  t.partial({ kind: t.string, lr: t.union([t.number, t.null]), dataDir: t.union([t.string, t.null]), trainSize: t.number, validSize: t.number, testSize: t.union([t.number, t.null]), retrainSize: t.union([t.number, t.null]) }),
]);

/**
 * `--from DIR`, or `--arch DIR/arch.json` where DIR holds a search.json: the settings the search's own retrain used
 * (Adam at the search's rate — classic: its --lr, one-shot: 0.003 —, its batch, its --retrain-epochs, data, data
 * directory and seed; the training set as large as its retrain set), so that retraining by hand reproduces it.
 * Right(undefined) when neither applies.
 */
export const fromSearch = (from: string | undefined, arch: string | undefined): E.Either<string, FromSearch | undefined> => {
  const dir = from ?? (arch !== undefined && existsSync(join(dirname(arch), 'search.json')) ? dirname(arch) : undefined);
  if (dir === undefined) return E.right(undefined);
  const file = join(dir, 'search.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (is this a search directory?)' : e instanceof Error ? e.message : String(e);
    return E.left(`--from ${dir}: ${file}: ${why}`);
  }
  const d = searchJsonCodec.decode(raw);
  if (E.isLeft(d)) return E.left(`--from ${dir}: ${file} is not the settings of a search (malformed)`);
  const j = d.right;
  const archFile = arch ?? join(dir, 'arch.json');
  if (arch === undefined && !existsSync(archFile)) return E.left(`--from ${dir}: no arch.json there (the search has not finished)`);
  const lr = j.kind === 'oneshot' ? ONE_SHOT_DEFAULTS.retrainLr : (j.lr ?? ONE_SHOT_DEFAULTS.retrainLr);
  const epochs = Math.max(1, j.retrainEpochs);
  const trainSize = j.retrainSize ?? (j.trainSize !== undefined && j.validSize !== undefined ? j.trainSize + j.validSize : undefined);
  const settings: Record<string, unknown> = {
    arch: archFile,
    optimizer: 'adam',
    lr,
    batch: j.batch,
    epochs,
    data: j.data,
    seed: j.seed,
    ...(j.dataDir === null || j.dataDir === undefined ? {} : { dataDir: j.dataDir }),
    ...(trainSize === undefined ? {} : { trainSize }),
    ...(j.testSize === null || j.testSize === undefined ? {} : { testSize: j.testSize }),
  };
  const describe = `adam lr ${lr}, batch ${j.batch}, ${epochs} epoch${epochs === 1 ? '' : 's'}, ${j.data}${trainSize === undefined ? '' : ` (${trainSize} training samples)`}, seed ${j.seed}, arch ${archFile}`;
  return E.right({ file, settings, describe });
};

export const RETRAIN_DEFAULTS = { epochs: 1, batch: 64, optimizer: 'sgd', schedule: 'constant', labelSmoothing: 0, seed: 0 } as const;

const positiveInt = (flag: string, min = 1): ((v: string) => number) => countFlag(flag, min);
const nonNegative =
  (flag: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!(v.trim() !== '' && Number.isFinite(n) && n >= 0)) throw new InvalidArgumentError(`${flag} must be a non-negative number`);
    return n;
  };
const integer = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('--seed must be an integer');
  return n;
};

/**
 * Registers `retrain` on the program.
 *
 * @example
 * addRetrainCommand(program, io, setCode); // in buildProgram (src/cli/main.ts)
 */
export const addRetrainCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('retrain')
    .description('train a fixed architecture of a model on the device; writes weights, metrics and checkpoints to --out')
    .argument('<model>', 'model file (.ts or .js) whose default export is a ModelDef')
    .option('--arch <file>', 'architecture JSON file (NNI value forms); required when the model has choices; one inside a search directory also takes its retrain settings, as --from')
    .option('--from <dir>', "a search's directory: its arch.json, and the retrain settings of its search.json (optimizer, learning rate, batch, epochs, data, seed); flags given win")
    .addOption(new Option('--data <set>', 'training data').choices(['fashion-mnist', 'synthetic']).default('fashion-mnist'))
    .option('--data-dir <dir>', 'directory of the Fashion-MNIST IDX files (default: Debian\'s dataset-fashion-mnist)')
    .option('--epochs <n>', 'epochs', positiveInt('--epochs'), RETRAIN_DEFAULTS.epochs)
    .option('--batch <n>', 'batch size', positiveInt('--batch'), RETRAIN_DEFAULTS.batch)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam', 'adamw', 'adadelta']).default(RETRAIN_DEFAULTS.optimizer))
    .option('--lr <x>', 'learning rate (default: sgd 0.01, adam/adamw 0.001, adadelta 1.0)', nonNegative('--lr'))
    .option('--momentum <x>', 'SGD momentum', nonNegative('--momentum'))
    .option('--weight-decay <x>', 'weight decay', nonNegative('--weight-decay'))
    .addOption(new Option('--schedule <s>', 'learning-rate schedule (cosine: to 0 over the epochs; step: ×0.1 every third of them)').choices(['constant', 'cosine', 'step']).default(RETRAIN_DEFAULTS.schedule))
    .option('--clip <x>', 'clip the global gradient norm to this value', nonNegative('--clip'))
    .option('--label-smoothing <x>', 'label smoothing of the training loss', nonNegative('--label-smoothing'), RETRAIN_DEFAULTS.labelSmoothing)
    .requiredOption('--out <dir>', 'output directory (weights.safetensors, metrics.json, checkpoint.safetensors)')
    .option('--init <file>', 'start from these weights (e.g. a supernet\'s .safetensors), matched by parameter path')
    .option('--device <name>', 'use the adapter whose name contains this text (e.g. llvmpipe, nvidia)')
    .option('--resume', 'continue from --out/checkpoint.safetensors when it exists', false)
    .option('--seed <s>', 'seed of the initial weights, the data order and dropout', integer, RETRAIN_DEFAULTS.seed)
    .option('--train-size <n>', 'use only the first N training samples', positiveInt('--train-size'))
    .option('--test-size <n>', 'use only the first N test samples', positiveInt('--test-size'))
    .action(async (model: string, flags: Record<string, unknown>, cmd: Command) => {
      const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
      const from = fromSearch(flags['from'] as string | undefined, flags['arch'] as string | undefined);
      if (E.isLeft(from)) {
        setCode(fail(io, EXIT_USAGE, [from.left]));
        return;
      }
      // The search's retrain settings under the flags given on the command line.
      const o: Record<string, unknown> = { ...flags };
      if (from.right !== undefined) {
        for (const [k, v] of Object.entries(from.right.settings)) if (!given(k)) o[k] = v;
        const kept = Object.keys(from.right.settings).filter((k) => k !== 'arch' && given(k));
        io.err(`settings from ${from.right.file}: ${from.right.describe}${kept.length === 0 ? '' : `; given on the command line: ${kept.map(flagName).join(', ')}`}\n`);
      }
      const pick = <K extends keyof RetrainOptions>(k: K): Partial<Pick<RetrainOptions, K>> =>
        (o[k] === undefined ? {} : { [k]: o[k] }) as Partial<Pick<RetrainOptions, K>>;
      const opts: RetrainOptions = {
        data: o['data'] as RetrainOptions['data'],
        epochs: o['epochs'] as number,
        batch: o['batch'] as number,
        optimizer: o['optimizer'] as OptimizerKind,
        schedule: o['schedule'] as RetrainOptions['schedule'],
        labelSmoothing: o['labelSmoothing'] as number,
        out: o['out'] as string,
        resume: o['resume'] === true,
        seed: o['seed'] as number,
        ...pick('arch'),
        ...pick('dataDir'),
        ...pick('lr'),
        ...pick('momentum'),
        ...pick('weightDecay'),
        ...pick('clip'),
        ...pick('init'),
        ...pick('device'),
        ...pick('trainSize'),
        ...pick('testSize'),
      };
      setCode(await retrainCommand(model, opts, io));
    });

/** The optimizer the flags describe. */
export const optimizerOf = (o: RetrainOptions): OptimizerSpec => {
  const wd = o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay };
  const lr = o.lr === undefined ? {} : { lr: o.lr };
  switch (o.optimizer) {
    case 'sgd':
      return { kind: 'sgd', lr: o.lr ?? 0.01, ...(o.momentum === undefined ? {} : { momentum: o.momentum }), ...wd };
    case 'adam':
    case 'adamw':
    case 'adadelta':
      return { kind: o.optimizer, ...lr, ...wd };
    default: {
      const never: never = o.optimizer;
      throw new Error(`unknown optimizer ${String(never)}`);
    }
  }
};

const scheduleOf = (o: RetrainOptions): LrSchedule => {
  switch (o.schedule) {
    case 'constant':
      return { kind: 'constant' };
    case 'cosine':
      return { kind: 'cosine', tMax: o.epochs };
    case 'step':
      return { kind: 'step', stepSize: Math.max(1, Math.round(o.epochs / 3)), gamma: 0.1 };
    default: {
      const never: never = o.schedule;
      throw new Error(`unknown schedule ${String(never)}`);
    }
  }
};

const fail = (io: Io, code: number, messages: readonly string[]): number => {
  for (const m of messages) io.err(`error: ${m.split('\n').join(' ')}\n`);
  return code;
};

/** The fixed graph and its architecture: from --arch, or the model itself when it has no choices. */
const fixedModel = (io: Io, model: string, graph: Graph, archFile: string | undefined): E.Either<number, { readonly fixed: Graph; readonly arch: Architecture | undefined }> => {
  const space = searchSpace(graph);
  if (archFile === undefined) {
    if (space.decisions.length === 0) return E.right({ fixed: graph, arch: undefined });
    return E.left(fail(io, EXIT_USAGE, [`${model} has choices (${space.decisions.map((d) => d.key).join(', ')}): pass --arch arch.json`]));
  }
  let text: string;
  try {
    text = readFileSync(archFile, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
    return E.left(fail(io, EXIT_USAGE, [`${archFile}: ${why}`]));
  }
  const json = parseArchitectureJson(text);
  if (E.isLeft(json)) return E.left(fail(io, EXIT_ERRORS, json.left.map((e) => `${archFile}: ${e.message}`)));
  const arch = resolveArchitecture(space, json.right);
  if (E.isLeft(arch)) return E.left(fail(io, EXIT_ERRORS, arch.left.map((e) => `${archFile}: ${e.message}`)));
  const fixed = apply(graph, arch.right);
  if (E.isLeft(fixed)) return E.left(fail(io, EXIT_ERRORS, fixed.left.map((e) => `${archFile}: applying it to ${model}: ${e.message}`)));
  return E.right({ fixed: fixed.right, arch: arch.right });
};

const firstN = (ds: TrainTest['train'], n: number | undefined): TrainTest['train'] =>
  n === undefined || n >= ds.n ? ds : subset(ds, Array.from({ length: n }, (_, i) => i));

/** The data the flags name, shaped for the model: Fashion-MNIST from disk, or a synthetic set of its shape. */
const dataFor = (io: Io, o: RetrainOptions, graph: Graph): E.Either<number, TrainTest> => {
  if (o.data === 'synthetic') {
    const classes = graph.outputs[0]!.shape.reduce((a, b) => a * b, 1);
    const sets = syntheticTrainTest({ n: o.trainSize ?? 1024, nTest: o.testSize ?? 256, shape: graph.inputs[0]!.shape, classes, seed: o.seed, noise: 0.5 });
    return E.right(sets);
  }
  const loaded = loadFashionMnist(o.dataDir === undefined ? {} : { dir: o.dataDir });
  if (E.isLeft(loaded)) return E.left(fail(io, EXIT_ERRORS, loaded.left.map((e) => e.message)));
  return E.right({ train: firstN(loaded.right.train, o.trainSize), test: firstN(loaded.right.test, o.testSize) });
};

const writeJsonAtomic = (file: string, text: string): void => {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
};

/** Runs `retrain`; returns the exit code. `--out` is created, checked writable and locked before any work. */
export const retrainCommand = async (model: string, o: RetrainOptions, io: Io): Promise<number> => {
  const out = prepareOut(o.out);
  if (E.isLeft(out)) return fail(io, EXIT_USAGE, [out.left]);
  const lock = await lockOut(out.right, (m) => io.err(`warning: ${m}\n`));
  if (E.isLeft(lock)) return fail(io, EXIT_USAGE, [lock.left]);
  try {
    return await retrainLocked(model, o, io);
  } finally {
    lock.right();
  }
};

const retrainLocked = async (model: string, o: RetrainOptions, io: Io): Promise<number> => {
  const started = performance.now();
  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  const fm = fixedModel(io, model, loaded.right.graph, o.arch);
  if (E.isLeft(fm)) return fm.left;
  const { fixed, arch } = fm.right;
  const archJson = arch === undefined ? undefined : JSON.stringify(exportArchitecture(searchSpace(loaded.right.graph), arch));

  let init: ReadonlyMap<string, Float32Array> | undefined;
  if (o.init !== undefined) {
    if (!existsSync(o.init)) return fail(io, EXIT_USAGE, [`${o.init}: no such file`]);
    const file = readSafetensorsFile(o.init);
    if (E.isLeft(file)) return fail(io, EXIT_ERRORS, file.left.map((e) => e.message));
    const matched = matchParameters(file.right, paramShapes(fixed), o.init);
    if (E.isLeft(matched)) return fail(io, EXIT_ERRORS, matched.left.map((e) => e.message));
    init = matched.right.values;
  }
  const data = dataFor(io, o, fixed);
  if (E.isLeft(data)) return data.left;
  const tooFew = batchExceeds(o.batch, [['training set', data.right.train.n]]);
  if (tooFew !== undefined) return fail(io, EXIT_USAGE, [tooFew]);

  const gpu = await acquireDevice(o.device === undefined ? {} : { adapter: o.device });
  if (E.isLeft(gpu)) return fail(io, EXIT_ERRORS, [gpu.left.message]);
  try {
    io.out(`device: ${gpu.right.adapterInfo.name}${gpu.right.isSoftware ? ' (software Vulkan on the CPU)' : ''}\n`);
    io.out(`model: ${loaded.right.def.name}${archJson === undefined ? '' : `  arch: ${archJson}`}\n`);
    io.out(`data: ${o.data}  train ${data.right.train.n}  test ${data.right.test.n}\n`);
    if (init !== undefined) io.out(`initial weights: ${o.init} (${init.size} tensors)\n`);
    try {
      mkdirSync(o.out, { recursive: true });
    } catch (e) {
      return fail(io, EXIT_ERRORS, [`${o.out}: cannot create the output directory (${e instanceof Error ? e.message : String(e)})`]);
    }
    const optimizer = optimizerOf(o);
    const r = await train(fixed, { train: data.right.train, test: data.right.test }, {
      gpu: gpu.right,
      epochs: o.epochs,
      batchSize: o.batch,
      optimizer,
      schedule: scheduleOf(o),
      labelSmoothing: o.labelSmoothing,
      seed: o.seed,
      checkpointDir: o.out,
      resume: o.resume,
      // Through `io` (tests run commands in-process); a redrawn bar only when that is the terminal's stderr.
      progress: progressReporter({ write: io.err, isTTY: io.err === processIo.err && process.stderr.isTTY, columns: process.stderr.columns || 100 }), // columns is 0 under some CI terminals
      ...(o.clip === undefined ? {} : { clipGradNorm: o.clip }),
      ...(init === undefined ? {} : { init }),
      ...(archJson === undefined ? {} : { arch: archJson }),
    });
    if (E.isLeft(r)) return fail(io, EXIT_ERRORS, r.left.map((e) => e.message));
    const last = r.right.history.at(-1);
    const weightsFile = join(o.out, 'weights.safetensors');
    const w = writeWeights(weightsFile, r.right.params, paramShapes(fixed), {
      model: loaded.right.def.name,
      ...(archJson === undefined ? {} : { arch: archJson }),
    });
    if (E.isLeft(w)) return fail(io, EXIT_ERRORS, w.left.map((e) => e.message));
    const metrics = {
      model,
      name: loaded.right.def.name,
      arch: arch === undefined ? null : (JSON.parse(archJson!) as unknown),
      data: o.data,
      device: gpu.right.adapterInfo.name,
      optimizer,
      epochs: o.epochs,
      batch: o.batch,
      seed: o.seed,
      steps: r.right.steps,
      testAccuracy: last?.testAccuracy ?? null,
      testTop5Accuracy: last?.testTop5Accuracy ?? null,
      testLoss: last?.testLoss ?? null,
      seconds: (performance.now() - started) / 1000,
      history: JSON.parse(metricsJson(r.right.history)) as unknown,
    };
    writeJsonAtomic(join(o.out, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
    const percent = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);
    io.out(`test accuracy: ${percent(last?.testAccuracy)} (top-5 ${percent(last?.testTop5Accuracy)}; loss ${last?.testLoss?.toFixed(4) ?? '-'})\n`);
    io.out(`wrote ${weightsFile} and ${join(o.out, 'metrics.json')}\n`);
    return EXIT_OK;
  } finally {
    gpu.right.destroy();
  }
};
