/**
 * `nasgraph search <model> --strategy darts|pdarts|enas|spos|proxyless|gdas --out DIR`: one-shot NAS. One supernet
 * is trained on the device while the algorithm learns (or, for SPOS, afterwards searches) the architecture; then the
 * derived architecture is retrained from scratch (`--retrain-epochs`, 0 to skip; `--inherit` starts it from the
 * supernet's weights) and its TEST accuracy printed.
 *
 * `DIR` receives: `arch.json` (NNI's export format), `history.json` (per epoch: each key's distribution — softmax of
 * the alphas, or the controller's probabilities — the architecture it would export, and the epoch's metrics, for
 * plotting), `supernet.safetensors` (the checkpoint: every tensor plus the algorithm's state, rewritten after each
 * epoch), `search.json` (the settings), `result.json` and the retrained `weights.safetensors`. `--resume` continues
 * an interrupted search from its last epoch.
 *
 * The data: `--train-size` images train the weights, `--valid-size` others drive the architecture (DARTS' 50/50
 * split of the training set; ENAS' rewards; SPOS' candidate scores); the retrain uses both, and the test set scores
 * it.
 *
 * @example
 * $ nasgraph search examples/fashion-cells.ts --strategy darts --epochs 2 --out runs/darts
 * $ nasgraph search examples/darts.ts --strategy pdarts --strategy-options '{"stages":2,"drop":[4,0],"addLayers":[0,2]}' --out runs/pdarts
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { formatArchitectureJson } from '../ir/architecture.ts';
import { type Architecture, apply } from '../ir/apply.ts';
import { type Graph, fitCheck, paramCount, searchSpace } from '../ir/index.ts';
import { numel } from '../ir/shape.ts';
import { ONE_SHOT_NAMES, type OneShotName, type HistoryEntry } from '../search/oneshot/types.ts';
import { writeWeights } from '../runtime/checkpoint.ts';
import { loadFashionMnist, syntheticTrainTest } from '../runtime/data/index.ts';
import { acquireDevice } from '../runtime/device.ts';
import { loadModel } from '../runtime/load-model.ts';
import { createDriver, decodeOneShotOptions, pdartsOptions } from '../runtime/oneshot/registry.ts';
import { type OneShotError, type OneShotResult, oneShotSearch } from '../runtime/oneshot/search.ts';
import { pdartsSearch } from '../runtime/oneshot/pdarts.ts';
import { paramShapes } from '../runtime/params.ts';
import { type ProgressSink, type ProgressStream, progressReporter } from '../runtime/progress.ts';
import { formatArchitecture, formatCount, formatDuration, formatObjective } from '../runtime/search-display.ts';
import { type SearchData, countMacs, retrainArchitecture, searchData } from '../runtime/trial-evaluator.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io, batchExceeds, processIo } from './io.ts';
import { reportLoadErrors } from './space.ts';

/** Exit code of an interrupted search (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;
/** Exit code of a search stopped by SIGTERM (128 + 15). */
const EXIT_TERMINATED = 143;

/** Whether `name` is a one-shot algorithm. */
export const isOneShot = (name: string): name is OneShotName => (ONE_SHOT_NAMES as readonly string[]).includes(name);

/** The defaults of a one-shot search: README's main job (DARTS on examples/fashion-cells.ts). */
export const ONE_SHOT_DEFAULTS = {
  epochs: 3,
  batch: 32,
  retrainEpochs: 2,
  retrainLr: 3e-3,
  fashion: { trainSize: 2500, validSize: 2500 },
  synthetic: { trainSize: 128, validSize: 128, testSize: 128 },
} as const;

const settingsCodec = t.type({
  kind: t.literal('oneshot'),
  strategy: t.string,
  strategyOptions: t.UnknownRecord,
  data: t.keyof({ 'fashion-mnist': null, synthetic: null }),
  dataDir: t.union([t.string, t.null]),
  trainSize: t.number,
  validSize: t.number,
  epochs: t.number,
  batch: t.number,
  lr: t.union([t.number, t.null]),
  seed: t.number,
  // May change on resume:
  testSize: t.union([t.number, t.null]),
  retrainSize: t.union([t.number, t.null]),
  retrainEpochs: t.number,
  inherit: t.boolean,
  device: t.union([t.string, t.null]),
});
type Settings = t.TypeOf<typeof settingsCodec>;

/** Settings a resume may not change. */
const FIXED: readonly (keyof Settings)[] = ['strategy', 'strategyOptions', 'data', 'dataDir', 'trainSize', 'validSize', 'epochs', 'batch', 'lr', 'seed'];
const SETTINGS_FILE = 'search.json';

/** The flags of `search` that a one-shot search reads (commander's values). */
export interface OneShotFlags {
  strategy: string;
  strategyOptions?: Record<string, unknown>;
  data: string;
  dataDir?: string;
  epochs: number;
  seed: number;
  out: string;
  resume?: boolean;
  trainSize?: number;
  validSize?: number;
  testSize?: number;
  retrainSize?: number;
  batch: number;
  lr: number;
  device?: string;
  retrainEpochs: number;
  inherit?: boolean;
}

/** True when DIR holds the settings of a one-shot search (so `--resume` without `--strategy` continues it). */
export const holdsOneShotSearch = (dir: string): boolean => {
  try {
    const raw = JSON.parse(readFileSync(join(resolve(dir), SETTINGS_FILE), 'utf8')) as { kind?: unknown };
    return raw.kind === 'oneshot';
  } catch {
    return false;
  }
};

const flagOf = (k: string): string => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const resolveSettings = (f: OneShotFlags, given: (name: string) => boolean, saved: Settings | undefined): E.Either<readonly string[], Settings> => {
  const data = (saved !== undefined && !given('data') ? saved.data : f.data) as Settings['data'];
  const sizes = data === 'synthetic' ? ONE_SHOT_DEFAULTS.synthetic : ONE_SHOT_DEFAULTS.fashion;
  const fromFlags: Settings = {
    kind: 'oneshot',
    strategy: f.strategy,
    strategyOptions: f.strategyOptions ?? {},
    data,
    dataDir: f.dataDir === undefined ? null : resolve(f.dataDir),
    trainSize: f.trainSize ?? sizes.trainSize,
    validSize: f.validSize ?? sizes.validSize,
    epochs: given('epochs') ? f.epochs : ONE_SHOT_DEFAULTS.epochs,
    batch: given('batch') ? f.batch : ONE_SHOT_DEFAULTS.batch,
    lr: given('lr') ? f.lr : null,
    seed: f.seed,
    testSize: f.testSize ?? (data === 'synthetic' ? ONE_SHOT_DEFAULTS.synthetic.testSize : null),
    retrainSize: f.retrainSize ?? null,
    retrainEpochs: given('retrainEpochs') ? f.retrainEpochs : ONE_SHOT_DEFAULTS.retrainEpochs,
    inherit: f.inherit === true,
    device: f.device ?? null,
  };
  if (saved === undefined) return E.right(fromFlags);
  const errors: string[] = [];
  const merged: Record<string, unknown> = {};
  for (const k of Object.keys(fromFlags) as (keyof Settings)[]) {
    const isGiven = given(k) || (k === 'strategyOptions' && f.strategyOptions !== undefined);
    merged[k] = isGiven ? fromFlags[k] : saved[k];
    if (isGiven && FIXED.includes(k) && JSON.stringify(fromFlags[k]) !== JSON.stringify(saved[k])) {
      errors.push(`${flagOf(k)} ${JSON.stringify(fromFlags[k])} differs from the search being resumed (${JSON.stringify(saved[k])}); a resumed search keeps its ${flagOf(k)}`);
    }
  }
  return errors.length > 0 ? E.left(errors) : E.right(merged as unknown as Settings);
};

const loadData = (s: Settings, graph: Graph): E.Either<readonly { readonly message: string }[], SearchData> => {
  const sizes = { validSize: s.validSize, trainSize: s.trainSize, seed: s.seed, ...(s.testSize === null ? {} : { testSize: s.testSize }), ...(s.retrainSize === null ? {} : { retrainSize: s.retrainSize }) };
  if (s.data === 'synthetic') {
    const full = syntheticTrainTest({
      n: Math.max(s.trainSize + s.validSize, s.retrainSize ?? 0),
      nTest: s.testSize ?? ONE_SHOT_DEFAULTS.synthetic.testSize,
      shape: graph.inputs[0]?.shape ?? [],
      classes: numel(graph.outputs[0]?.shape ?? []),
      seed: s.seed,
    });
    return searchData(full, sizes);
  }
  const full = loadFashionMnist(s.dataDir === null ? {} : { dir: s.dataDir });
  return E.isLeft(full) ? full : searchData(full.right, sizes);
};

/** A progress sink that, when the stream is not a terminal, also prints a line every quarter of an epoch. */
const stepLines = (inner: ProgressSink, stream: ProgressStream): ProgressSink => {
  if (stream.isTTY === true) return inner;
  let epochLabel = '';
  let started = 0;
  return {
    ...inner,
    epochStart: (e, n, steps) => {
      epochLabel = `epoch ${e}/${n}`;
      started = performance.now();
      inner.epochStart(e, n, steps);
    },
    step: (done, steps, loss, acc) => {
      inner.step(done, steps, loss, acc);
      const every = Math.max(1, Math.ceil(steps / 4));
      if (done % every === 0 && done < steps) {
        const per = (performance.now() - started) / done;
        stream.write(`  ${epochLabel}: ${done}/${steps} steps, loss ${loss.toFixed(4)}, acc ${(100 * acc).toFixed(1)} %, ${formatDuration(per)}/step, ${formatDuration(per * (steps - done))} left\n`);
      }
    },
  };
};

/**
 * The line an epoch's history entry prints. Each figure says what it is: the supernet's running training accuracy,
 * and the validation accuracy of the DISCRETISED architecture (the one the algorithm would export now) on the
 * shared weights — not the supernet's own. SPOS derives nothing while it trains (its architecture comes from the
 * evolution afterwards): its epochs print no architecture; the evolution prints as such, not as one more epoch.
 */
export const epochLine = (h: HistoryEntry, strategy: OneShotName, epochs: number): string => {
  const m = h.metrics;
  const evolution = m['candidates'] !== undefined;
  const parts = [evolution ? 'evolution' : m['stage'] !== undefined ? `epoch ${h.epoch}` : `epoch ${h.epoch}/${epochs}`];
  if (m['stage'] !== undefined) parts.push(`stage ${m['stage']}`);
  if (m['trainLoss'] !== undefined) parts.push(`supernet train loss ${m['trainLoss'].toFixed(4)} acc ${formatObjective(m['trainAccuracy'] ?? NaN)}`);
  if (evolution) parts.push(`${m['candidates']} candidates scored; best: valid acc ${formatObjective(m['validAccuracy'] ?? NaN)} on the shared weights`);
  else if (strategy === 'spos') parts.push('(the architecture is chosen by the evolution after the last epoch)');
  else parts.push(`discretised architecture on the shared weights: valid acc ${formatObjective(m['validAccuracy'] ?? NaN)}`);
  if (m['seconds'] !== undefined) parts.push(formatDuration(m['seconds'] * 1000));
  const showArch = evolution || strategy !== 'spos';
  return `${parts.join('  ')}\n${showArch ? `         ${formatArchitecture(h.arch)}\n` : ''}`;
};

/** Runs a one-shot `search`; returns the exit code. `given(name)`: whether a flag was on the command line. */
export const oneShotCommand = async (model: string, flags: OneShotFlags, given: (name: string) => boolean, io: Io): Promise<number> => {
  const dir = resolve(flags.out);
  let saved: Settings | undefined;
  const file = join(dir, SETTINGS_FILE);
  if (existsSync(file)) {
    try {
      const d = settingsCodec.decode(JSON.parse(readFileSync(file, 'utf8')));
      if (E.isLeft(d)) {
        io.err(`error: ${file}: not the settings of a one-shot search (malformed or another kind of search)\n`);
        return flags.resume === true ? EXIT_ERRORS : EXIT_USAGE;
      }
      saved = d.right;
    } catch (e) {
      io.err(`error: ${file}: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT_ERRORS;
    }
  }
  if (flags.resume === true && saved === undefined) {
    io.err(`error: ${dir} holds no search to resume (no ${SETTINGS_FILE}); start one without --resume\n`);
    return EXIT_USAGE;
  }
  if (flags.resume !== true && saved !== undefined) {
    io.err(`error: ${dir} already holds a search: continue it with --resume, or choose another --out\n`);
    return EXIT_USAGE;
  }
  const settings = resolveSettings(flags, given, flags.resume === true ? saved : undefined);
  if (E.isLeft(settings)) {
    for (const m of settings.left) io.err(`error: ${m}\n`);
    return EXIT_USAGE;
  }
  const s = settings.right;
  if (!isOneShot(s.strategy)) {
    io.err(`error: '${s.strategy}' is not a one-shot algorithm (${ONE_SHOT_NAMES.join(', ')})\n`);
    return EXIT_USAGE;
  }
  const name = s.strategy;
  const opts = decodeOneShotOptions(name, s.strategyOptions);
  if (E.isLeft(opts)) {
    for (const m of opts.left) io.err(`error: --strategy-options: ${m}\n`);
    return EXIT_USAGE;
  }
  if (s.dataDir !== null && !existsSync(s.dataDir)) {
    io.err(`error: --data-dir ${s.dataDir}: no such directory\n`);
    return EXIT_USAGE;
  }
  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  const { graph } = loaded.right;
  const space = searchSpace(graph);
  const driver = name === 'pdarts' ? undefined : createDriver(name, s.strategyOptions);
  if (driver !== undefined && E.isLeft(driver)) {
    for (const m of driver.left) io.err(`error: --strategy-options: ${m}\n`);
    return EXIT_USAGE;
  }
  const refused = driver === undefined ? [] : driver.right.check(space);
  if (refused.length > 0) {
    for (const e of refused) io.err(`error: ${e.message}\n`);
    return e2code(refused);
  }
  // Layer choices whose candidates differ in shape: every architecture must fit before the supernet trains.
  const unfit = fitCheck(graph);
  if (E.isLeft(unfit)) {
    for (const e of unfit.left) io.err(`error: ${model}: ${e.message}\n`);
    return EXIT_ERRORS;
  }
  const data = loadData(s, graph);
  if (E.isLeft(data)) {
    for (const e of data.left) io.err(`error: ${e.message}\n`);
    return EXIT_ERRORS;
  }
  const tooFew = batchExceeds(s.batch, [['training set (--train-size)', data.right.train.n], ['validation set (--valid-size)', data.right.valid.n]]);
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
  const stderr: ProgressStream = { write: io.err, isTTY: io.err === processIo.err && process.stderr.isTTY === true, columns: process.stderr.columns || 100 };
  const progress = stepLines(progressReporter(stderr), stderr);
  const controller = new AbortController();
  let interrupts = 0;
  let exitCode = EXIT_INTERRUPTED;
  // SIGINT and SIGTERM: the epoch in progress (SPOS' evolution: the generation in progress) runs to its end and is
  // checkpointed, then the search stops (exit 128 + the signal) and says how to resume; a second signal quits at
  // once, losing that epoch (a resume restarts it). SIGKILL cannot be caught: a resume restarts the epoch it cut.
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    exitCode = signal === 'SIGTERM' ? EXIT_TERMINATED : EXIT_INTERRUPTED;
    if (interrupts > 1) process.exit(exitCode);
    progress.note(`interrupted (${signal}): finishing the epoch in progress (SPOS' evolution: the generation in progress) and checkpointing it, then stopping; ${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again quits at once and loses that epoch`);
    controller.abort(new Error('interrupted'));
  };
  try {
    const d = data.right;
    io.err(`adapter  ${gpu.adapterInfo.name}${gpu.isSoftware ? ' (software Vulkan on the CPU: keep the sizes small)' : ''}\n`);
    io.err(`search   ${model}: ${space.decisions.length} decisions, ${space.size} architectures; ${name} ${JSON.stringify(s.strategyOptions)}, ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}${name === 'pdarts' ? ' per stage' : ''}, batch ${s.batch}\n`);
    io.err(`data     ${s.data}: ${d.train.n} images train the weights, ${d.valid.n} drive the architecture; retrain ${d.retrain.n}, test ${d.test.n}\n`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(s, null, 2)}\n`);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const common = {
      gpu,
      train: d.train,
      valid: d.valid,
      batchSize: s.batch,
      seed: s.seed,
      ...(s.lr === null ? {} : { lr: s.lr }),
      dir,
      resume: flags.resume === true,
      progress,
      signal: controller.signal,
      onEpoch: (h: HistoryEntry) => io.err(epochLine(h, name, s.epochs)),
    };
    let result: E.Either<readonly OneShotError[], OneShotResult>;
    if (name === 'pdarts') {
      const po = pdartsOptions(s.strategyOptions);
      if (E.isLeft(po)) {
        for (const m of po.left) io.err(`error: --strategy-options: ${m}\n`);
        return EXIT_USAGE;
      }
      result = await pdartsSearch(graph, { ...common, options: po.right, epochsPerStage: s.epochs, ...(loaded.right.deeper === undefined ? {} : { deeper: loaded.right.deeper }) });
    } else {
      result = await oneShotSearch(graph, { ...common, driver: (driver as E.Right<never>).right, epochs: s.epochs });
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (E.isLeft(result)) {
      for (const e of result.left) io.err(`error: ${e.message}\n`);
      return EXIT_ERRORS;
    }
    const r = result.right;
    if (r.aborted) {
      const done = r.history.length;
      const where =
        name === 'pdarts'
          ? `after ${done} whole epoch${done === 1 ? '' : 's'} in all (${s.epochs} per stage; checkpointed)`
          : done >= s.epochs
            ? `after its ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}, in its evolution (checkpointed after the last whole generation)`
            : `after epoch ${done} of ${s.epochs} (checkpointed)`;
      io.out(`search interrupted ${where}; no architecture derived. Continue it with:\n  nasgraph search ${model} --out ${flags.out} --resume\n`);
      return exitCode;
    }
    return await finish(io, { model, graph, s, d, dir, r, gpu, inherit: s.inherit, progress: progressReporter(stderr) });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    gpu.destroy();
  }
};

const e2code = (errors: readonly { readonly tag: string }[]): number => (errors.some((e) => e.tag === 'InvalidOption') && !errors.some((e) => e.tag === 'UnsupportedChoice') ? EXIT_USAGE : EXIT_ERRORS);

interface Finished {
  readonly model: string;
  readonly graph: Graph;
  readonly s: Settings;
  readonly d: SearchData;
  readonly dir: string;
  readonly r: OneShotResult;
  readonly gpu: Parameters<typeof retrainArchitecture>[3]['gpu'];
  readonly inherit: boolean;
  readonly progress: ProgressSink;
}

/** Writes arch.json and result.json, retrains the derived architecture and reports its test accuracy. */
const finish = async (io: Io, f: Finished): Promise<number> => {
  const { s, d, dir, r, graph } = f;
  const space = searchSpace(graph);
  const arch: Architecture = r.arch;
  const archFile = join(dir, 'arch.json');
  writeFileSync(archFile, formatArchitectureJson(space, arch));
  const fixed = apply(graph, arch);
  const params = E.isRight(fixed) ? paramCount(fixed.right) : null;
  const macs = E.isRight(fixed) ? countMacs(fixed.right) : null;
  const last = r.history[r.history.length - 1];
  io.out(`\nderived  ${formatArchitecture(arch)}  (${archFile})\n`);
  io.out(`         ${formatCount(params)} parameters, ${formatCount(macs)} MACs; valid acc of this architecture on the supernet's shared weights ${formatObjective(last?.metrics['validAccuracy'] ?? null)}; search ${formatDuration(r.seconds * 1000)}\n`);
  io.out(`history  ${join(dir, 'history.json')} (${r.history.length} entries)\n`);
  const summary = { model: f.model, strategy: s.strategy, strategyOptions: s.strategyOptions, epochs: s.epochs, searchSeconds: r.seconds, arch, params, macs, validAccuracy: last?.metrics['validAccuracy'] ?? null };
  if (s.retrainEpochs === 0) {
    writeFileSync(join(dir, 'result.json'), `${JSON.stringify({ ...summary, retrain: null }, null, 2)}\n`);
    return EXIT_OK;
  }
  io.err(`retrain  the derived architecture ${f.inherit ? "from the supernet's weights" : 'from scratch'}: ${s.retrainEpochs} epoch${s.retrainEpochs === 1 ? '' : 's'} on ${d.retrain.n} images, tested on ${d.test.n}\n`);
  const re = await retrainArchitecture(graph, arch, { train: d.retrain, test: d.test }, {
    gpu: f.gpu,
    epochs: s.retrainEpochs,
    batchSize: s.batch,
    optimizer: { kind: 'adam', lr: ONE_SHOT_DEFAULTS.retrainLr },
    seed: s.seed,
    progress: f.progress,
    ...(f.inherit ? { init: r.params } : {}),
  });
  if (E.isLeft(re)) {
    for (const m of re.left) io.err(`error: retraining the derived architecture: ${m}\n`);
    return EXIT_ERRORS;
  }
  const weightsFile = join(dir, 'weights.safetensors');
  const wrote = writeWeights(weightsFile, re.right.trained.params, paramShapes(re.right.graph), { arch: JSON.stringify(arch), testAccuracy: String(re.right.testAccuracy) });
  if (E.isLeft(wrote)) for (const e of wrote.left) io.err(`error: ${e.message}\n`);
  const retrain = { epochs: s.retrainEpochs, inherit: f.inherit, trainSize: d.retrain.n, testSize: d.test.n, testAccuracy: re.right.testAccuracy, testLoss: re.right.testLoss, seconds: re.right.seconds, history: re.right.history, weights: E.isRight(wrote) ? weightsFile : null };
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify({ ...summary, retrain }, null, 2)}\n`);
  io.out(
    `test     accuracy ${formatObjective(re.right.testAccuracy)} (loss ${re.right.testLoss.toFixed(4)}) after retraining ${s.retrainEpochs} epoch${s.retrainEpochs === 1 ? '' : 's'} on ${d.retrain.n} images (${formatDuration(re.right.seconds * 1000)}); tested on ${d.test.n} images\n`,
  );
  io.out(`results  ${join(dir, 'result.json')}\n`);
  return EXIT_OK;
};
