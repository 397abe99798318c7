/**
 * `nasgraph search <model> --strategy NAME --out DIR [...]`: classic (trial-based) NAS. Each architecture the
 * strategy proposes is applied to the model, trained for `--epochs` on a training split and scored on a held-out
 * validation split (the objective: validation accuracy); the search shows its progress live, then prints the
 * ranked trials, writes the best architecture to `DIR/arch.json` (NNI's export format), retrains it from scratch
 * on the search's train and valid sets (`--retrain-epochs`, 0 to skip) and prints its TEST accuracy, also written
 * to `DIR/result.json` (with the retrained weights in `DIR/weights.safetensors`).
 *
 * `DIR` holds the experiment log (experiment.json, trials.jsonl, state.json) and `search.json`, this command's
 * settings. `--resume` continues an interrupted search (Ctrl-C, a crash, a kill) without re-running finished
 * trials: settings not given on the command line are taken from `search.json`, and one that changes what a trial
 * computes (data, sizes, epochs, batch, learning rate, seed, strategy) is refused; the budget (`--trials`) and the
 * retrain may change.
 *
 * Exit codes: 0 ok; 1 errors in the model, the data, the device, or a search where no trial succeeded; 2 wrong
 * usage (a bad flag, a missing model file, a directory that already holds a search without --resume); 130
 * interrupted (resume with --resume).
 *
 * @example
 * $ nasgraph search examples/fashion-small.ts --strategy evolution --trials 12 --out runs/first
 * $ nasgraph search examples/fashion-small.ts --out runs/first --resume
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { formatArchitectureJson } from '../ir/architecture.ts';
import { numel } from '../ir/shape.ts';
import { type Graph, type SearchSpace, fitCheck, searchSpace } from '../ir/index.ts';
import { type AnyStrategy, type StrategyError, createStrategy, strategyNames } from '../search/index.ts';
import { writeWeights } from '../runtime/checkpoint.ts';
import { type Dataset, loadFashionMnist, syntheticTrainTest } from '../runtime/data/index.ts';
import { acquireDevice, type Gpu } from '../runtime/device.ts';
import { loadModel } from '../runtime/load-model.ts';
import { paramShapes } from '../runtime/params.ts';
import { type ProgressStream, progressReporter } from '../runtime/progress.ts';
import { formatArchitecture, formatCount, formatDuration, formatObjective, formatRankedTable, searchDisplay } from '../runtime/search-display.ts';
import { type SearchData, type TrialTraining, retrainArchitecture, searchData, trialEvaluator } from '../runtime/trial-evaluator.ts';
import { type Evaluate, type RunError, type SearchEvent, type SearchResult, runSearch } from '../runtime/trials.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io, batchExceeds, countFlag, processIo } from './io.ts';
import { ONE_SHOT_DEFAULTS, holdsOneShotSearch, isOneShot, oneShotCommand } from './oneshot.ts';
import { lockOut, prepareOut, removeIfEmpty } from './out-dir.ts';
import { startUiBeside } from './ui.ts';
import { reportLoadErrors } from './space.ts';
import { searchThroughQueue } from './search-queue.ts';
import { ONE_SHOT_NAMES } from '../search/oneshot/types.ts';

/** Exit code of a search interrupted by Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

// ---------------------------------------------------------------------------------------------------------
// Settings

const dataKinds = ['fashion-mnist', 'synthetic'] as const;

/** Everything that decides what the search computes, saved as `DIR/search.json`. */
const settingsCodec = t.readonly(
  t.type({
    strategy: t.keyof({ random: null, grid: null, evolution: null, reinforce: null, tpe: null, ppo: null }),
    strategyOptions: t.UnknownRecord,
    data: t.keyof({ 'fashion-mnist': null, synthetic: null }),
    dataDir: t.union([t.string, t.null]),
    trainSize: t.number,
    validSize: t.number,
    epochs: t.number,
    batch: t.number,
    lr: t.number,
    seed: t.number,
    earlyStop: t.boolean,
    // May change on resume:
    trials: t.number,
    concurrency: t.number,
    testSize: t.union([t.number, t.null]),
    retrainSize: t.union([t.number, t.null]),
    retrainEpochs: t.number,
    device: t.union([t.string, t.null]),
  }),
);
/** The settings of a search (see `settingsCodec`). */
export type SearchSettings = t.TypeOf<typeof settingsCodec>;

/** Settings a resume may not change: they decide what a trial computes. */
const FIXED: readonly (keyof SearchSettings)[] = ['strategy', 'strategyOptions', 'data', 'dataDir', 'trainSize', 'validSize', 'epochs', 'batch', 'lr', 'seed', 'earlyStop'];

/** The flag of a setting, for messages. */
const flagOf = (k: keyof SearchSettings): string => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * The defaults: the main job (README). Trial sizes keep one trial near half a minute on two CPU cores with
 * lavapipe; the synthetic set is for tests and smoke runs.
 */
export const SEARCH_DEFAULTS = {
  strategy: 'random',
  data: 'fashion-mnist',
  trials: 10,
  epochs: 1,
  batch: 32,
  lr: 3e-3,
  seed: 0,
  concurrency: 1,
  retrainEpochs: 2,
  fashion: { trainSize: 3000, validSize: 1000 },
  synthetic: { trainSize: 256, validSize: 64, testSize: 128 },
} as const;

const SETTINGS_FILE = 'search.json';

// ---------------------------------------------------------------------------------------------------------
// Flags

const positiveInt = countFlag;

const integer = (v: string): number => {
  const n = Number(v);
  if (!/^\s*-?\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--seed must be an integer, got '${v}'`);
  return n;
};

const positiveNumber = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`--lr must be a positive number, got '${v}'`);
  return n;
};

const jsonObject = (v: string): Record<string, unknown> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new InvalidArgumentError(`--strategy-options must be a JSON object, e.g. '{"population":8,"sample":3}', got '${v}'`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError(`--strategy-options must be a JSON object, got '${v}'`);
  return parsed as Record<string, unknown>;
};

interface Flags {
  strategy: string;
  strategyOptions?: Record<string, unknown>;
  data: string;
  dataDir?: string;
  trials: number;
  epochs: number;
  seed: number;
  out: string;
  resume?: boolean;
  concurrency: number;
  trainSize?: number;
  validSize?: number;
  testSize?: number;
  retrainSize?: number;
  batch: number;
  lr: number;
  device?: string;
  earlyStop?: boolean;
  retrainEpochs: number;
  inherit?: boolean;
  queue?: string;
  queueName?: string;
  ui?: string | true;
}

/**
 * Adds `search` to the `nasgraph` program, writing through `io` and reporting its exit code through `setCode`.
 *
 * @example
 * addSearchCommand(program, io, setCode); // in buildProgram (src/cli/main.ts)
 */
export const addSearchCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('search')
    .description(
      `NAS: classic (${strategyNames.join(', ')}: train each proposed architecture as a trial) or one-shot (${ONE_SHOT_NAMES.join(', ')}: train one supernet); then retrain the best and report its test accuracy`,
    )
    .argument('<model>', 'model file (.ts or .js) whose default export is a ModelDef with choices')
    .requiredOption('--out <dir>', 'experiment directory: the log, arch.json (the best architecture), result.json')
    .addOption(new Option('--strategy <name>', 'search strategy (classic or one-shot)').choices([...strategyNames, ...ONE_SHOT_NAMES]).default(SEARCH_DEFAULTS.strategy))
    .option('--strategy-options <json>', `the strategy's options as a JSON object, e.g. '{"population":8,"sample":3}' for evolution`, jsonObject)
    .addOption(new Option('--data <name>', 'data set: Fashion-MNIST, or a synthetic set shaped like the model (tests)').choices(dataKinds).default(SEARCH_DEFAULTS.data))
    .option('--data-dir <dir>', "directory holding Fashion-MNIST's IDX files (default: Debian's dataset-fashion-mnist)")
    .option('--trials <n>', 'trials in all (the budget)', positiveInt('--trials', 1), SEARCH_DEFAULTS.trials)
    .addOption(
      new Option('--epochs <n>', 'classic: training epochs per trial; one-shot: epochs of the supernet (per stage for pdarts)')
        .argParser(positiveInt('--epochs', 1))
        .default(SEARCH_DEFAULTS.epochs, `classic ${SEARCH_DEFAULTS.epochs}, one-shot ${ONE_SHOT_DEFAULTS.epochs}`),
    )
    .option('--seed <s>', 'seed of the strategy, the data split, weights and data order', integer, SEARCH_DEFAULTS.seed)
    .option('--resume', 'continue the search logged in --out (settings not given are taken from its search.json)')
    .option('--concurrency <k>', 'trials in flight at once on the device', positiveInt('--concurrency', 1), SEARCH_DEFAULTS.concurrency)
    .option('--train-size <n>', `training samples per trial (default ${SEARCH_DEFAULTS.fashion.trainSize}; synthetic ${SEARCH_DEFAULTS.synthetic.trainSize})`, positiveInt('--train-size', 1))
    .option('--valid-size <n>', `samples held out of the training set to score trials (default ${SEARCH_DEFAULTS.fashion.validSize}; synthetic ${SEARCH_DEFAULTS.synthetic.validSize})`, positiveInt('--valid-size', 1))
    .option('--test-size <n>', 'test samples scoring the retrain (default: the whole test set)', positiveInt('--test-size', 1))
    .option('--retrain-size <n>', 'training samples of the retrain (default: the trials\' train and valid sets together)', positiveInt('--retrain-size', 1))
    .option('--batch <n>', 'batch size', positiveInt('--batch', 1), SEARCH_DEFAULTS.batch)
    .addOption(
      new Option('--lr <x>', "classic: Adam's learning rate; one-shot: the weights' base learning rate")
        .argParser(positiveNumber)
        .default(SEARCH_DEFAULTS.lr, `classic ${SEARCH_DEFAULTS.lr}, one-shot the algorithm's own (e.g. DARTS 0.025)`),
    )
    .option('--device <name>', 'use the adapter whose name contains this text (e.g. llvmpipe, nvidia)')
    .option('--early-stop', 'stop hopeless trials with the median rule (needs --epochs ≥ 2 to matter)')
    .option('--retrain-epochs <n>', 'epochs of the final retrain of the best architecture (0: no retrain)', positiveInt('--retrain-epochs', 0), SEARCH_DEFAULTS.retrainEpochs)
    .option('--inherit', "one-shot: start the retrain from the supernet's weights (same parameter paths) instead of fresh ones")
    .option('--queue <url>', 'classic: run the trials on `nasgraph worker`s fed from this Redis (redis://HOST:PORT); --concurrency: trials queued at once')
    .option('--queue-name <name>', 'with --queue: the queue (default nasgraph; a resume keeps its own)')
    .option('--ui [port]', 'serve the NAS UI over --out while the search runs and print its URL (port default 8080; 0: a free one)')
    .action(async (model: string, flags: Flags, cmd: Command) => {
      const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
      setCode(await searchCommand(model, flags, given, io));
    });

/** The settings of this run: the flags, over the saved settings when resuming (where a flag was not given). */
const resolveSettings = (flags: Flags, given: (name: string) => boolean, saved: SearchSettings | undefined): E.Either<readonly string[], SearchSettings> => {
  const data = (saved !== undefined && !given('data') ? saved.data : flags.data) as SearchSettings['data'];
  const sizes = data === 'synthetic' ? SEARCH_DEFAULTS.synthetic : SEARCH_DEFAULTS.fashion;
  const fromFlags: SearchSettings = {
    strategy: flags.strategy as SearchSettings['strategy'],
    strategyOptions: flags.strategyOptions ?? {},
    data,
    dataDir: flags.dataDir === undefined ? null : resolve(flags.dataDir),
    trainSize: flags.trainSize ?? sizes.trainSize,
    validSize: flags.validSize ?? sizes.validSize,
    epochs: flags.epochs,
    batch: flags.batch,
    lr: flags.lr,
    seed: flags.seed,
    earlyStop: flags.earlyStop === true,
    trials: flags.trials,
    concurrency: flags.concurrency,
    testSize: flags.testSize ?? (data === 'synthetic' ? SEARCH_DEFAULTS.synthetic.testSize : null),
    retrainSize: flags.retrainSize ?? null,
    retrainEpochs: flags.retrainEpochs,
    device: flags.device ?? null,
  };
  if (saved === undefined) return E.right(fromFlags);
  const errors: string[] = [];
  const merged: Record<string, unknown> = {};
  for (const k of Object.keys(fromFlags) as (keyof SearchSettings)[]) {
    const flag = flagOf(k);
    const isGiven = given(k) || (k === 'strategyOptions' && flags.strategyOptions !== undefined);
    merged[k] = isGiven ? fromFlags[k] : saved[k];
    if (isGiven && FIXED.includes(k) && JSON.stringify(fromFlags[k]) !== JSON.stringify(saved[k])) {
      errors.push(`${flag} ${JSON.stringify(fromFlags[k])} differs from the search being resumed (${JSON.stringify(saved[k])}); a resumed search keeps its ${flag}`);
    }
  }
  return errors.length > 0 ? E.left(errors) : E.right(merged as unknown as SearchSettings);
};

const readSettings = (dir: string): E.Either<string, SearchSettings | undefined> => {
  const file = join(dir, SETTINGS_FILE);
  if (!existsSync(file)) return E.right(undefined);
  try {
    const decoded = settingsCodec.decode(JSON.parse(readFileSync(file, 'utf8')));
    return E.isRight(decoded) ? E.right(decoded.right) : E.left(`${file}: not the settings of a search (malformed)`);
  } catch (e) {
    return E.left(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
};

// ---------------------------------------------------------------------------------------------------------
// Errors

/**
 * The exit code for errors of `runSearch` (or of the strategy's check): 2 for wrong usage (strategy options, a
 * directory that already holds a search, nothing to resume, a resume with other settings), 1 otherwise (a space
 * the strategy refuses, naming the key; a corrupt log).
 */
export const searchErrorCode = (errors: readonly (RunError | StrategyError)[]): number =>
  errors.some((e) => e.tag === 'InvalidOption' || e.tag === 'BadOption' || e.tag === 'LogExists' || e.tag === 'NothingToResume' || e.tag === 'ResumeMismatch') &&
  !errors.some((e) => e.tag === 'UnsupportedChoice' || e.tag === 'EmptyChoice')
    ? EXIT_USAGE
    : EXIT_ERRORS;

const printErrors = (io: Io, errors: readonly { readonly message: string }[]): void => {
  for (const e of errors) io.err(`error: ${e.message}\n`);
};

// ---------------------------------------------------------------------------------------------------------
// The command

/** The data of the search, by `--data`. */
const loadData = (s: SearchSettings, graph: Graph): E.Either<readonly { readonly message: string }[], SearchData> => {
  const sizes = { validSize: s.validSize, trainSize: s.trainSize, seed: s.seed, ...(s.testSize === null ? {} : { testSize: s.testSize }), ...(s.retrainSize === null ? {} : { retrainSize: s.retrainSize }) };
  if (s.data === 'synthetic') {
    const out = graph.outputs[0]?.shape ?? [];
    const shape = graph.inputs[0]?.shape ?? [];
    const pool = Math.max(s.trainSize + s.validSize, s.retrainSize ?? 0);
    const full = syntheticTrainTest({ n: pool, nTest: s.testSize ?? SEARCH_DEFAULTS.synthetic.testSize, shape, classes: numel(out), seed: s.seed });
    return searchData(full, sizes);
  }
  const full = loadFashionMnist(s.dataDir === null ? {} : { dir: s.dataDir });
  if (E.isLeft(full)) return full;
  return searchData(full.right, sizes);
};

/**
 * Runs `search`; returns the exit code. `given(name)` tells whether a flag was on the command line. `--out` is
 * created, checked writable and locked (src/cli/out-dir.ts) before any other work.
 */
export const searchCommand = async (model: string, flags: Flags, given: (name: string) => boolean, io: Io): Promise<number> => {
  // A directory this command creates and that a refusal leaves empty is removed again: a refused command leaves nothing.
  const created = !existsSync(resolve(flags.out));
  const out = prepareOut(flags.out);
  if (E.isLeft(out)) {
    io.err(`error: ${out.left}\n`);
    return EXIT_USAGE;
  }
  const lock = await lockOut(out.right, (m) => io.err(`warning: ${m}\n`));
  if (E.isLeft(lock)) {
    io.err(`error: ${lock.left}\n`);
    return EXIT_USAGE;
  }
  let code: number = EXIT_ERRORS;
  try {
    const ui = flags.ui === undefined ? undefined : await startUiBeside(out.right, model, flags.ui, io);
    if (typeof ui === 'number') return (code = ui);
    try {
      code = await searchCommandLocked(model, flags, given, io);
    } finally {
      await ui?.();
    }
    return code;
  } finally {
    lock.right();
    if (created && code !== 0) removeIfEmpty(out.right);
  }
};

const searchCommandLocked = async (model: string, flags: Flags, given: (name: string) => boolean, io: Io): Promise<number> => {
  const oneShot = isOneShot(flags.strategy) || (flags.resume === true && !given('strategy') && holdsOneShotSearch(flags.out));
  if (flags.queue !== undefined && oneShot) {
    io.err(`error: --queue is for classic searches (trials); a one-shot search trains one supernet in process\n`);
    return EXIT_USAGE;
  }
  // One-shot algorithms have their own command; a resume without --strategy follows what DIR holds.
  if (oneShot) return oneShotCommand(model, flags, given, io);
  if (flags.inherit === true) {
    io.err(`error: --inherit is for one-shot searches (the supernet's weights); a classic search retrains from scratch\n`);
    return EXIT_USAGE;
  }
  const dir = resolve(flags.out);
  const saved = readSettings(dir);
  if (E.isLeft(saved)) {
    io.err(`error: ${saved.left}\n`);
    return EXIT_ERRORS;
  }
  if (flags.resume === true && saved.right === undefined) {
    io.err(`error: ${dir} holds no search to resume (no ${SETTINGS_FILE}); start one without --resume\n`);
    return EXIT_USAGE;
  }
  if (flags.resume !== true && (saved.right !== undefined || existsSync(join(dir, 'experiment.json')))) {
    io.err(`error: ${dir} already holds a search: continue it with --resume, or choose another --out\n`);
    return EXIT_USAGE;
  }
  const settings = resolveSettings(flags, given, flags.resume === true ? saved.right : undefined);
  if (E.isLeft(settings)) {
    for (const m of settings.left) io.err(`error: ${m}\n`);
    return EXIT_USAGE;
  }
  const s = settings.right;
  if (s.dataDir !== null && !existsSync(s.dataDir)) {
    io.err(`error: --data-dir ${s.dataDir}: no such directory\n`);
    return EXIT_USAGE;
  }

  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  const { graph } = loaded.right;
  const space = searchSpace(graph);
  // The objective is validation accuracy: the strategy maximises unless told otherwise (and then refuses below).
  const strategy = createStrategy(s.strategy, { direction: 'maximize', ...s.strategyOptions });
  if (E.isLeft(strategy)) {
    printErrors(io, strategy.left);
    return EXIT_USAGE;
  }
  if (strategy.right.direction !== 'maximize') {
    io.err(`error: --strategy-options: the objective (validation accuracy) is maximised; remove "direction": "minimize"\n`);
    return EXIT_USAGE;
  }
  const refused = strategy.right.check(space);
  if (refused.length > 0) {
    printErrors(io, refused);
    return searchErrorCode(refused);
  }
  // Layer choices whose candidates differ in shape: every architecture must fit before any trial trains.
  const unfit = fitCheck(graph);
  if (E.isLeft(unfit)) {
    for (const e of unfit.left) io.err(`error: ${model}: ${e.message}\n`);
    return EXIT_ERRORS;
  }
  const data = loadData(s, graph);
  if (E.isLeft(data)) {
    printErrors(io, data.left);
    return EXIT_ERRORS;
  }
  const tooFew = batchExceeds(s.batch, [['training set', data.right.train.n], ['retrain set', s.retrainEpochs > 0 ? data.right.retrain.n : Infinity]]);
  if (tooFew !== undefined) {
    io.err(`error: ${tooFew}\n`);
    return EXIT_USAGE;
  }

  const gpuR = await acquireDevice(s.device === null ? {} : { adapter: s.device });
  if (E.isLeft(gpuR)) {
    io.err(`error: ${gpuR.left.message}\n`);
    return EXIT_ERRORS;
  }
  const gpu = gpuR.right;
  try {
    const job: Job = { gpu, model, graph, space, strategy: strategy.right, data: data.right, s, dir, resume: flags.resume === true };
    if (flags.queue !== undefined) {
      const queue = flags.queue;
      return await searchThroughQueue(job, { ...flags, queue }, given, io, (jb, hooks) => searchOnDevice({ ...jb, s: { ...jb.s, concurrency: hooks.concurrency }, queue: hooks }, io));
    }
    return await searchOnDevice(job, io);
  } finally {
    // Releases Dawn's instance too: while it is referenced, Node does not exit.
    gpu.destroy();
  }
};

interface Job {
  readonly gpu: Gpu;
  readonly model: string;
  readonly graph: Graph;
  readonly space: SearchSpace;
  readonly strategy: AnyStrategy;
  readonly data: SearchData;
  readonly s: SearchSettings;
  readonly dir: string;
  readonly resume: boolean;
  /** `--queue`: trials run on workers (search-queue.ts). */
  readonly queue?: { readonly evaluate: Evaluate; readonly onEvent: (e: SearchEvent) => void };
}

const sizeLine = (d: Dataset): string => `${d.n}`;

const searchOnDevice = async (j: Job, io: Io): Promise<number> => {
  const { s, dir } = j;
  // Progress goes to the command's stderr; it is redrawn in place only when that is the process's terminal.
  const stderr: ProgressStream = { write: io.err, isTTY: io.err === processIo.err && process.stderr.isTTY === true, columns: process.stderr.columns || 100 }; // 0 under `script` and some CI terminals
  io.err(`adapter  ${j.gpu.adapterInfo.name}${j.gpu.isSoftware ? ' (software Vulkan on the CPU: keep the sizes small)' : ''}\n`);
  io.err(
    `search   ${j.model}: ${j.space.decisions.length} decisions, ${j.space.size} architectures; ${s.strategy} ${JSON.stringify(j.strategy.options)}, ${s.trials} trials of ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}\n`,
  );
  io.err(`data     ${s.data}: ${sizeLine(j.data.train)} train, ${sizeLine(j.data.valid)} valid per trial; retrain ${sizeLine(j.data.retrain)}, test ${sizeLine(j.data.test)}\n`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, SETTINGS_FILE), `${JSON.stringify(s, null, 2)}\n`);

  const display = searchDisplay(stderr, { budget: s.trials });
  const training: TrialTraining = { gpu: j.gpu, epochs: s.epochs, batchSize: s.batch, optimizer: { kind: 'adam', lr: s.lr }, seed: s.seed };
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT_INTERRUPTED); // the log is consistent at every point: --resume works
    display.note('interrupted: stopping after the current epoch (Ctrl-C again to quit at once); continue later with --resume');
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  const t0 = performance.now();
  let result: E.Either<readonly RunError[], SearchResult>;
  try {
    result = await runSearch({
      space: j.space,
      strategy: j.strategy,
      evaluate: j.queue?.evaluate ?? trialEvaluator({ ...training, supernet: j.graph, data: j.data, progress: display.trialProgress }),
      trials: s.trials,
      concurrency: s.concurrency,
      seed: s.seed,
      logDir: dir,
      resume: j.resume,
      ...(s.earlyStop ? { earlyStop: { metric: 'objective' } } : {}),
      onEvent: j.queue === undefined ? display.onEvent : (e) => (j.queue!.onEvent(e), display.onEvent(e)),
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
    display.close();
  }
  if (E.isLeft(result)) {
    printErrors(io, result.left);
    return searchErrorCode(result.left);
  }
  const r = result.right;
  const searchSeconds = (performance.now() - t0) / 1000;
  io.out(`\n${formatRankedTable(r.ranked, 'valid acc')}\n\n`);
  if (r.aborted) {
    io.out(`search interrupted after ${r.ranked.length} of ${s.trials} trials: continue it with --resume\n`);
    return EXIT_INTERRUPTED;
  }
  if (r.best === null) {
    io.err(`error: no trial succeeded (${r.ranked.length} ran); see the errors above and ${join(dir, 'trials.jsonl')}\n`);
    return EXIT_ERRORS;
  }
  const best = r.best;
  const archFile = join(dir, 'arch.json');
  const archJson = formatArchitectureJson(j.space, best.arch);
  writeFileSync(archFile, archJson);
  io.out(
    `best     trial #${best.id}: valid acc ${formatObjective(best.objective)}, ${formatCount(best.params)} parameters, ${formatCount(best.flops)} MACs` +
      `${r.exhausted && r.ranked.length < s.trials ? ` (the space is used up after ${r.ranked.length} trials)` : ''}\n`,
  );
  io.out(`arch     ${formatArchitecture(best.architecture)}  (${archFile})\n`);

  const summary = {
    model: j.model,
    strategy: s.strategy,
    strategyOptions: j.strategy.options,
    trials: r.ranked.length,
    searchSeconds,
    best: { trial: best.id, validAccuracy: best.objective, architecture: best.architecture, params: best.params, macs: best.flops },
  };
  if (s.retrainEpochs === 0) {
    writeFileSync(join(dir, 'result.json'), `${JSON.stringify({ ...summary, retrain: null }, null, 2)}\n`);
    return EXIT_OK;
  }

  io.err(`retrain  the best architecture from scratch: ${s.retrainEpochs} epoch${s.retrainEpochs === 1 ? '' : 's'} on ${j.data.retrain.n} images, tested on ${j.data.test.n}\n`);
  const re = await retrainArchitecture(j.graph, best.arch, { train: j.data.retrain, test: j.data.test }, { ...training, epochs: s.retrainEpochs, progress: progressReporter(stderr) });
  if (E.isLeft(re)) {
    for (const m of re.left) io.err(`error: retraining the best architecture: ${m}\n`);
    return EXIT_ERRORS;
  }
  const weightsFile = join(dir, 'weights.safetensors');
  const wrote = writeWeights(weightsFile, re.right.trained.params, paramShapes(re.right.graph), { arch: JSON.stringify(best.architecture), testAccuracy: String(re.right.testAccuracy) });
  if (E.isLeft(wrote)) printErrors(io, wrote.left);
  const retrain = {
    epochs: s.retrainEpochs,
    trainSize: j.data.retrain.n,
    testSize: j.data.test.n,
    testAccuracy: re.right.testAccuracy,
    testLoss: re.right.testLoss,
    seconds: re.right.seconds,
    history: re.right.history,
    weights: E.isRight(wrote) ? weightsFile : null,
  };
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify({ ...summary, retrain }, null, 2)}\n`);
  io.out(
    `test     accuracy ${formatObjective(re.right.testAccuracy)} (loss ${re.right.testLoss.toFixed(4)}) after retraining ${s.retrainEpochs} epoch${s.retrainEpochs === 1 ? '' : 's'} on ${j.data.retrain.n} images` +
      ` (${formatDuration(re.right.seconds * 1000)}); tested on ${j.data.test.n} images\n`,
  );
  io.out(`results  ${join(dir, 'result.json')}\n`);
  return EXIT_OK;
};
