/**
 * ENAS (Pham et al., 2018) as NNI runs it: an LSTM controller (enas-lstm.ts) samples one architecture per child
 * training step; the child's validation accuracy is its reward; the controller learns by REINFORCE with a moving
 * average baseline, an entropy bonus and, for nChosen-null input choices, a KL penalty toward a skip target.
 *
 * The update, per sample in the order given (NNI's EnasTrainer):
 *   R = reward + β·H                      (entropyMode 'reward', NNI's; H is detached: no gradient through it)
 *   b ← decay·b + (1 − decay)·R           (the baseline moves BEFORE the advantage is taken, as NNI's)
 *   loss = −log p·(R − b) + w·KL          (NNI writes sample_log_prob·(R − b) where its sample_log_prob is the
 *                                          summed cross-entropy, i.e. −log p: descending this loss ascends reward)
 * averaged over the samples, then one Adam step (adam.ts; lr 3.5e-4, betas 0.9/0.999, ε 1e-8: PyTorch's defaults).
 * With entropyMode 'gradient', H stays out of R and the loss gets −β·H instead (a differentiable entropy bonus).
 * NNI's sample entropy is Σ −log p(c)·p(c) of the drawn values; ours is the entropy of each step's distribution
 * (the ENAS paper's TensorFlow code), so that the bonus measures the policy's spread rather than one draw's luck.
 *
 * The state is plain JSON (numbers and number arrays) and depends on the space only through `spaceFingerprint`.
 *
 * @example
 * let [state, rng] = enasInit(space, seedRng(1));
 * const samples = [];
 * for (let i = 0; i < 20; i++) {
 *   const s = enasSample(space, state, rng);
 *   rng = s.rng;
 *   samples.push({ arch: s.arch, reward: validAccuracy(s.arch) }); // the runtime trains and evaluates
 * }
 * state = enasUpdate(space, state, samples);
 * enasExport(space, state); // the greedy architecture
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import type { Rng } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';
import { type StrategyError, allChoiceKinds, checkSpace, decodeWith, optionError, spaceFingerprint } from '../strategy.ts';
import { type AdamOptions, adamInit, adamShapeErrors, adamStateCodec, adamStep } from './adam.ts';
import { SUBSET_LIMIT } from './enas-heads.ts';
import { type ControllerConfig, archOf, backward, rollout } from './enas-lstm.ts';
import { type ControllerDims, type LstmParams, PARAM_NAMES, type ParamName, initLstmParams, paramLengths, zeroTensors } from './enas-params.ts';
import type { KeyVectors } from './types.ts';

const NAME = 'enas';

/** Options of ENAS; every one optional, NNI's defaults. */
export interface EnasOptions {
  /** LSTM hidden units (default 64). */
  readonly lstmSize?: number;
  /** Logits are tanhConstant·tanh(u / temperature) (default 1.5; null: no tanh). */
  readonly tanhConstant?: number | null;
  /** Softens (> 1) or sharpens (< 1) the logits before the tanh (default null: 1). */
  readonly temperature?: number | null;
  /** Fixed logit bias on keys containing "reduce" (default 0.25; see enas-lstm.ts). */
  readonly branchBias?: number;
  /** Target probability of keeping a candidate of an nChosen-null input choice (default 0.4). */
  readonly skipTarget?: number;
  /** Weight of the skip penalty in the loss (default 0.8). */
  readonly skipWeight?: number;
  /** Weight β of the entropy bonus (default 1e-4). */
  readonly entropyWeight?: number;
  /** 'reward' (default, NNI's): R += β·H, no gradient through H; 'gradient': loss −= β·H. */
  readonly entropyMode?: 'reward' | 'gradient';
  /** Decay of the moving-average baseline, in [0, 1) (default 0.999). */
  readonly baselineDecay?: number;
  /** Adam's learning rate (default 3.5e-4). */
  readonly learningRate?: number;
  /** How many samples the runtime gathers per `enasUpdate` (default 20, NNI's mutator_steps_aggregate). */
  readonly samplesPerStep?: number;
}

/** The fields of ENAS' options, once: optional in the JSON options, all present in the saved settings. */
const optionProps = {
  lstmSize: t.number,
  tanhConstant: t.union([t.number, t.null]),
  temperature: t.union([t.number, t.null]),
  branchBias: t.number,
  skipTarget: t.number,
  skipWeight: t.number,
  entropyWeight: t.number,
  entropyMode: t.keyof({ reward: null, gradient: null }),
  baselineDecay: t.number,
  learningRate: t.number,
  samplesPerStep: t.number,
};

/** Decodes ENAS options from JSON (every field optional). */
export const enasOptionsCodec = t.partial(optionProps);

const settingsCodec = t.readonly(t.type(optionProps));

/** The options with every default filled in (kept in the state, so a resumed search runs the same). */
export type EnasSettings = t.TypeOf<typeof settingsCodec>;

/** NNI's defaults. */
export const ENAS_DEFAULTS: EnasSettings = {
  lstmSize: 64,
  tanhConstant: 1.5,
  temperature: null,
  branchBias: 0.25,
  skipTarget: 0.4,
  skipWeight: 0.8,
  entropyWeight: 1e-4,
  entropyMode: 'reward',
  baselineDecay: 0.999,
  learningRate: 3.5e-4,
  samplesPerStep: 20,
};

/** `options` over the defaults. */
export const enasSettings = (options: EnasOptions = {}): EnasSettings => {
  const out: Record<string, unknown> = { ...ENAS_DEFAULTS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as unknown as EnasSettings;
};

/** PyTorch's Adam defaults, which NNI's `optim.Adam(mutator.parameters(), lr=3.5e-4)` runs with. */
const adamOptions = (s: EnasSettings): AdamOptions => ({ lr: s.learningRate, betas: [0.9, 0.999], weightDecay: 0, eps: 1e-8 });

const numbers = t.readonlyArray(t.number);
const tensorsCodec = t.readonly(t.type(Object.fromEntries(PARAM_NAMES.map((n) => [n, numbers])) as Record<ParamName, typeof numbers>));

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    /** `spaceFingerprint` of the space the state was made for. */
    space: t.string,
    settings: settingsCodec,
    params: tensorsCodec,
    /** Adam's moments per parameter tensor, and its step count (the controller updates taken). */
    adam: adamStateCodec,
    /** The moving-average baseline (0 before any sample, as NNI). */
    baseline: t.number,
    /** Samples that have moved the baseline. */
    samples: t.number,
  }),
);

/** The ENAS controller's whole state: settings, LSTM weights, Adam moments, baseline, counters. Plain JSON. */
export type EnasState = t.TypeOf<typeof stateCodec>;

/** One evaluated sample: the architecture and its reward (the child's validation accuracy). */
export interface EnasSample {
  readonly arch: Architecture;
  readonly reward: number;
}

/** The common candidate count of the layer choices (0 when there are none). */
const layerCandidates = (space: SearchSpace): number => space.decisions.find((d) => d.kind === 'layer')?.names.length ?? 0;

const dimsFor = (space: SearchSpace, s: EnasSettings): ControllerDims => ({ hidden: s.lstmSize, candidates: layerCandidates(space) });

const configOf = (s: EnasSettings): ControllerConfig => ({
  tanhConstant: s.tanhConstant,
  temperature: s.temperature,
  branchBias: s.branchBias,
  skipTarget: s.skipTarget,
});

const settingsErrors = (s: EnasSettings): readonly StrategyError[] => {
  const fin = Number.isFinite;
  const positiveOrNull = (v: number | null): boolean => v === null || (fin(v) && v > 0);
  return [
    ...optionError(NAME, 'lstmSize', Number.isInteger(s.lstmSize) && s.lstmSize >= 1, `must be an integer ≥ 1, got ${s.lstmSize}`),
    ...optionError(NAME, 'tanhConstant', positiveOrNull(s.tanhConstant), `must be a positive number or null, got ${s.tanhConstant}`),
    ...optionError(NAME, 'temperature', positiveOrNull(s.temperature), `must be a positive number or null, got ${s.temperature}`),
    ...optionError(NAME, 'branchBias', fin(s.branchBias), `must be a finite number, got ${s.branchBias}`),
    ...optionError(NAME, 'skipTarget', s.skipTarget > 0 && s.skipTarget < 1, `must be in (0, 1), got ${s.skipTarget}`),
    ...optionError(NAME, 'skipWeight', fin(s.skipWeight) && s.skipWeight >= 0, `must be a number ≥ 0, got ${s.skipWeight}`),
    ...optionError(NAME, 'entropyWeight', fin(s.entropyWeight) && s.entropyWeight >= 0, `must be a number ≥ 0, got ${s.entropyWeight}`),
    ...optionError(NAME, 'entropyMode', s.entropyMode === 'reward' || s.entropyMode === 'gradient', `must be 'reward' or 'gradient', got ${String(s.entropyMode)}`),
    ...optionError(NAME, 'baselineDecay', s.baselineDecay >= 0 && s.baselineDecay < 1, `must be in [0, 1), got ${s.baselineDecay}`),
    ...optionError(NAME, 'learningRate', fin(s.learningRate) && s.learningRate > 0, `must be a positive number, got ${s.learningRate}`),
    ...optionError(NAME, 'samplesPerStep', Number.isInteger(s.samplesPerStep) && s.samplesPerStep >= 1, `must be an integer ≥ 1, got ${s.samplesPerStep}`),
  ];
};

/**
 * Every reason ENAS cannot search `space` with `options`: layer choices whose candidate count differs from the
 * first layer choice's (the controller has one softmax and one embedding for all), an input choice of k with
 * 2^k too large to score exactly, decisions with no value, and options out of range.
 *
 * @example
 * enasCheck(space); // [] or e.g. [{ tag: 'UnsupportedChoice', key: 'cell/op2', message: "... 'cell/op2' has 3 candidates, expected 6 ..." }]
 */
export const enasCheck = (space: SearchSpace, options: EnasOptions = {}): StrategyError[] => {
  const errors: StrategyError[] = [...checkSpace(NAME, allChoiceKinds, space)];
  const first = space.decisions.find((d) => d.kind === 'layer');
  for (const d of space.decisions) {
    if (d.kind === 'layer' && first !== undefined && d.names.length !== first.names.length) {
      errors.push({
        tag: 'UnsupportedChoice',
        strategy: NAME,
        key: d.key,
        kind: 'layer',
        message: `ENAS needs every layer choice to have the same number of candidates: '${d.key}' has ${d.names.length}, expected ${first.names.length} (as the first layer choice, '${first.key}')`,
      });
    }
    if (d.kind === 'input' && d.nChosen !== null && d.nChosen > SUBSET_LIMIT && d.nChosen < d.names.length) {
      errors.push({
        tag: 'UnsupportedChoice',
        strategy: NAME,
        key: d.key,
        kind: 'input',
        message: `ENAS scores an input choice of k inputs exactly in 2^k steps, up to k = ${SUBSET_LIMIT}: '${d.key}' chooses ${d.nChosen} of ${d.names.length}`,
      });
    }
  }
  return [...errors, ...settingsErrors(enasSettings(options))];
};

const toArrays = (g: Readonly<Record<ParamName, ArrayLike<number>>>): LstmParams =>
  Object.fromEntries(PARAM_NAMES.map((n) => [n, Array.from(g[n])])) as unknown as LstmParams;

/**
 * The state before any update: weights uniform in ±0.1 (drawn from `rng`), Adam moments zero, baseline 0.
 * `space` and `options` must pass `enasCheck`.
 */
export const enasInit = (space: SearchSpace, rng: Rng, options: EnasOptions = {}): [EnasState, Rng] => {
  const settings = enasSettings(options);
  const dims = dimsFor(space, settings);
  const [params, r] = initLstmParams(dims, rng);
  return [{ strategy: NAME, space: spaceFingerprint(space), settings, params, adam: adamInit(params), baseline: 0, samples: 0 }, r];
};

/** What `enasSample` returns: the architecture (canonical), its log-probability and entropy, the next generator. */
export interface EnasDraw {
  readonly arch: Architecture;
  readonly logProb: number;
  readonly entropy: number;
  readonly rng: Rng;
}

/** An architecture drawn from the controller, decisions in space order. */
export const enasSample = (space: SearchSpace, state: EnasState, rng: Rng): EnasDraw => {
  const r = rollout(space, state.params, configOf(state.settings), { kind: 'sample', rng });
  return { arch: archOf(space, r.values), logProb: r.logProb, entropy: r.entropy, rng: r.rng ?? rng };
};

/** The averaged loss gradient of a batch of samples, and the baseline after them (see the module comment). */
export interface EnasGradient {
  readonly grads: Readonly<Record<ParamName, Float64Array>>;
  readonly baseline: number;
  /** Samples with a finite reward (the others are ignored). */
  readonly used: number;
  /** The averaged loss, for logs. */
  readonly loss: number;
}

/**
 * The gradient of the mean REINFORCE loss over `samples` (non-finite rewards skipped), moving the baseline
 * sample by sample. Throws a RangeError for an architecture that is not a canonical value of `space`.
 */
export const enasGradient = (space: SearchSpace, state: EnasState, samples: readonly EnasSample[]): EnasGradient => {
  const s = state.settings;
  const cfg = configOf(s);
  const used = samples.filter((x) => Number.isFinite(x.reward));
  const grads = zeroTensors(dimsFor(space, s));
  let baseline = state.baseline;
  let loss = 0;
  const n = used.length;
  for (const sample of used) {
    const r = rollout(space, state.params, cfg, { kind: 'fixed', arch: sample.arch });
    const reward = sample.reward + (s.entropyMode === 'reward' ? s.entropyWeight * r.entropy : 0);
    baseline = s.baselineDecay * baseline + (1 - s.baselineDecay) * reward;
    const adv = reward - baseline;
    const beta = s.entropyMode === 'gradient' ? s.entropyWeight : 0;
    loss += (-adv * r.logProb - beta * r.entropy + s.skipWeight * r.skipPenalty) / n;
    backward(space, state.params, cfg, r.trace, { logProb: -adv / n, entropy: -beta / n, skipPenalty: s.skipWeight / n }, grads);
  }
  return { grads, baseline, used: n, loss };
};

/**
 * The state after one controller step on `samples` (the runtime gathers `samplesPerStep` of them): the baseline
 * moves per sample, the loss gradient is averaged, Adam steps once. Samples with a non-finite reward are skipped;
 * with none left, the state is returned unchanged. Throws a RangeError for an architecture not of `space`.
 */
export const enasUpdate = (space: SearchSpace, state: EnasState, samples: readonly EnasSample[]): EnasState => {
  const g = enasGradient(space, state, samples);
  if (g.used === 0) return state;
  const next = adamStep(state.adam, state.params, toArrays(g.grads), adamOptions(state.settings));
  return { ...state, params: next.params as LstmParams, adam: next.state, baseline: g.baseline, samples: state.samples + g.used };
};

/** The greedy architecture: at every step the most likely value given the greedy values before it. */
export const enasExport = (space: SearchSpace, state: EnasState): Architecture =>
  archOf(space, rollout(space, state.params, configOf(state.settings), { kind: 'greedy' }).values);

/**
 * Per key, the probabilities along the greedy rollout (for the history JSON): the softmax over candidates of a
 * layer choice or of an input choice of k (its first draw's), each candidate's keep probability for nChosen null.
 */
export const enasDistribution = (space: SearchSpace, state: EnasState): KeyVectors => {
  const r = rollout(space, state.params, configOf(state.settings), { kind: 'greedy' });
  return Object.fromEntries(space.decisions.map((d, j) => [d.key, r.probs[j] ?? []] as const));
};

/** The state as JSON (it is JSON already; `decodeEnasState` reads it back). */
export const encodeEnasState = (state: EnasState): unknown => state;

/**
 * A state read back from JSON, refused (every error collected) when malformed, made by another strategy, made for
 * another space (`spaceFingerprint`), with settings out of range, or with tensors of the wrong length.
 */
export const decodeEnasState = (space: SearchSpace, json: unknown): E.Either<readonly StrategyError[], EnasState> => {
  const decoded = decodeWith(NAME, stateCodec, space, json);
  if (E.isLeft(decoded)) return decoded;
  const s = decoded.right;
  const errors: StrategyError[] = [...settingsErrors(s.settings)];
  if (errors.length === 0) {
    const lengths = paramLengths(dimsFor(space, s.settings));
    for (const name of PARAM_NAMES) {
      if (s.params[name].length !== lengths[name]) {
        errors.push({
          tag: 'InvalidState',
          strategy: NAME,
          message: `saved state of '${NAME}': params.${name} has ${s.params[name].length} numbers, expected ${lengths[name]} (lstmSize ${s.settings.lstmSize}, ${layerCandidates(space)} candidates per layer choice)`,
        });
      }
    }
    errors.push(...adamShapeErrors(NAME, s.adam, s.params));
  }
  return errors.length > 0 ? E.left(errors) : E.right(s);
};
