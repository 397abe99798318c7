/**
 * Classic (trial-based) search strategies as pure functions, and a registry that builds one from its name and
 * JSON options (for the CLI's `--strategy` and for resuming an experiment from its log).
 *
 * @example
 * const s = createStrategy('evolution', { direction: 'maximize', population: 20, sample: 5 });
 * // Either<readonly StrategyError[], AnyStrategy>; then start(s.right, space) refuses an unsearchable space
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { evolutionOptionsCodec, regularizedEvolution } from './evolution.ts';
import { gridOptionsCodec, gridSearch } from './grid.ts';
import { randomOptionsCodec, randomSearch } from './random.ts';
import { reinforce, reinforceOptionsCodec } from './reinforce.ts';
import { ppo, ppoOptionsCodec } from './ppo.ts';
import { type AnyStrategy, type Strategy, type StrategyError, erase } from './strategy.ts';
import { tpe, tpeOptionsCodec } from './tpe.ts';

export * from './strategy.ts';
export * from './sampling.ts';
export * from './random.ts';
export * from './grid.ts';
export * from './evolution.ts';
export * from './policy.ts';
export * from './reinforce.ts';
export * from './tpe.ts';
export * from './ppo.ts';
export * from './oneshot/index.ts';

/** The names `createStrategy` (and the CLI's `--strategy`) accept. */
export const strategyNames = ['random', 'grid', 'evolution', 'reinforce', 'tpe', 'ppo'] as const;
/** One of `strategyNames`. */
export type StrategyName = (typeof strategyNames)[number];

/** Whether `s` names a strategy of the registry. */
export const isStrategyName = (s: string): s is StrategyName => (strategyNames as readonly string[]).includes(s);

const exactKeys = (name: string, props: t.Props, options: object): readonly StrategyError[] =>
  Object.keys(options)
    .filter((k) => !(k in props))
    .map((k) => ({
      tag: 'InvalidOption',
      strategy: name,
      option: k,
      message: `strategy '${name}' has no option '${k}' (it has ${Object.keys(props).join(', ')})`,
    }));

/** Decodes `options` with `codec` (refusing unknown keys), then builds the strategy. */
const build = <P extends t.Props, S>(
  name: string,
  codec: t.PartialC<P>,
  make: (o: t.TypeOf<t.PartialC<P>>) => Strategy<S>,
  options: unknown,
): E.Either<readonly StrategyError[], AnyStrategy> => {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return E.left([{ tag: 'InvalidOption', strategy: name, option: 'options', message: `options of strategy '${name}' must be an object, got ${JSON.stringify(options)}` }]);
  }
  const decoded = codec.decode(options);
  const errors: StrategyError[] = [...exactKeys(name, codec.props, options)];
  if (E.isLeft(decoded)) {
    for (const err of decoded.left) {
      const option = err.context.map((c) => c.key).filter((k) => k !== '').join('.') || 'options';
      // The codec of the option itself (a union's name lists its members), not of the union's last member.
      const own = err.context.find((c) => c.key !== '' && c.key === option.split('.').pop());
      const expected = own === undefined ? '' : `expected ${own.type.name}, `;
      errors.push({ tag: 'InvalidOption', strategy: name, option, message: `strategy '${name}': option '${option}' has the wrong type (${expected}got ${JSON.stringify(err.value)})` });
    }
  }
  return errors.length > 0 || E.isLeft(decoded) ? E.left(errors) : E.right(erase(make(decoded.right)));
};

/**
 * The strategy `name` with `options` (a JSON object; missing fields take their defaults). Unknown names,
 * unknown option keys and ill-typed values are all reported. Option ranges are checked by `check`/`start`.
 */
export const createStrategy = (name: string, options: unknown = {}): E.Either<readonly StrategyError[], AnyStrategy> => {
  if (!isStrategyName(name)) {
    return E.left([{ tag: 'InvalidOption', strategy: name, option: 'strategy', message: `unknown strategy '${name}' (known: ${strategyNames.join(', ')})` }]);
  }
  switch (name) {
    case 'random':
      return build(name, randomOptionsCodec, randomSearch, options);
    case 'grid':
      return build(name, gridOptionsCodec, gridSearch, options);
    case 'evolution':
      return build(name, evolutionOptionsCodec, regularizedEvolution, options);
    case 'reinforce':
      return build(name, reinforceOptionsCodec, reinforce, options);
    case 'tpe':
      return build(name, tpeOptionsCodec, tpe, options);
    case 'ppo':
      return build(name, ppoOptionsCodec, ppo, options);
    default: {
      const never: never = name;
      return never;
    }
  }
};
