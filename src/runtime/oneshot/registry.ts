/**
 * The one-shot algorithms by name, their options decoded from JSON (`--strategy-options`): every unknown field and
 * every field of the wrong type is reported, naming it. P-DARTS is not a driver (it runs DARTS in stages) but takes
 * its options here too.
 *
 * @example
 * createDriver('darts', { order: 2 });            // Right(driver)
 * createDriver('enas', { lstmSize: 'big' });      // Left(["enas: option 'lstmSize' must be a number, got \"big\""])
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { dartsOptionsCodec } from '../../search/oneshot/darts.ts';
import { enasOptionsCodec } from '../../search/oneshot/enas.ts';
import { fbnetOptionsCodec } from '../../search/oneshot/fbnet.ts';
import { gdasOptionsCodec } from '../../search/oneshot/gdas.ts';
import { type PdartsOptions, pdartsStageOptionsCodec } from '../../search/oneshot/pdarts.ts';
import { proxylessOptionsCodec } from '../../search/oneshot/proxyless.ts';
import { sposEvolutionOptionsCodec } from '../../search/oneshot/spos-evolution.ts';
import type { OneShotName } from '../../search/oneshot/types.ts';
import { dartsDriver } from './darts-driver.ts';
import { type AnyDriver, eraseDriver } from './driver.ts';
import { enasDriver } from './enas-driver.ts';
import { fbnetDriver } from './fbnet-driver.ts';
import { gdasDriver } from './gdas-driver.ts';
import { proxylessDriver } from './proxyless-driver.ts';
import { sposDriver } from './spos-driver.ts';

const binsCodec = t.intersection([t.type({ lower: t.number, upper: t.number, bins: t.number }), t.partial({ maxTries: t.number })]);

/** Per algorithm: the codec of its options (algorithm's and driver's together). */
const codecs: Readonly<Record<OneShotName, t.Mixed>> = {
  darts: dartsOptionsCodec,
  gdas: gdasOptionsCodec,
  proxyless: t.intersection([proxylessOptionsCodec, t.partial({ warmup: t.number, cost: t.keyof({ macs: null, latency: null }) })]),
  enas: t.intersection([enasOptionsCodec, t.partial({ controllerSamples: t.number })]),
  spos: t.intersection([sposEvolutionOptionsCodec, t.partial({ macsLimit: t.number, bins: binsCodec, recalibrationBatches: t.number, evalSize: t.number })]),
  pdarts: t.intersection([dartsOptionsCodec, pdartsStageOptionsCodec]),
  fbnet: t.intersection([fbnetOptionsCodec, t.partial({ warmup: t.number, latencyTable: t.string, latencyCache: t.string })]),
};

/** The fields a codec knows (for the unknown-field check). */
const fieldsOf = (c: t.Mixed): readonly string[] => {
  const any = c as unknown as { props?: Record<string, unknown>; types?: t.Mixed[] };
  if (any.props !== undefined) return Object.keys(any.props);
  if (any.types !== undefined) return any.types.flatMap(fieldsOf);
  return [];
};

/** Decodes `options` for `name`: the value, or every problem (unknown field, wrong type), each naming the field. */
export const decodeOneShotOptions = (name: OneShotName, options: unknown): E.Either<readonly string[], Record<string, unknown>> => {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return E.left([`${name}: options must be a JSON object`]);
  const codec = codecs[name];
  const known = new Set(fieldsOf(codec));
  const problems: string[] = Object.keys(options)
    .filter((k) => !known.has(k))
    .map((k) => `${name}: unknown option '${k}' (options: ${[...known].sort().join(', ')})`);
  const decoded = codec.decode(options);
  if (E.isLeft(decoded)) {
    for (const e of decoded.left) {
      const field = e.context.map((c) => c.key).filter((k) => k !== '' && !/^\d+$/.test(k)).join('.');
      // The codec of the option itself (a union's name lists its members), not of the union's last member.
      const own = e.context.find((c) => c.key !== '' && !/^\d+$/.test(c.key) && c.key === field.split('.').pop());
      const expected = own === undefined ? '' : `expected ${own.type.name}, `;
      const msg = `${name}: option '${field}' has the wrong type (${expected}got ${JSON.stringify(e.value)})`;
      if (!problems.includes(msg)) problems.push(msg);
    }
  }
  return problems.length > 0 ? E.left(problems) : E.right(options as Record<string, unknown>);
};

/** The driver of a one-shot algorithm (not P-DARTS: see `pdartsSearch`) from its decoded options. */
export const createDriver = (name: Exclude<OneShotName, 'pdarts'>, options: unknown): E.Either<readonly string[], AnyDriver> => {
  const d = decodeOneShotOptions(name, options);
  if (E.isLeft(d)) return d;
  const o = d.right as Record<string, never>;
  switch (name) {
    case 'darts':
      return E.right(eraseDriver(dartsDriver(o)));
    case 'gdas':
      return E.right(eraseDriver(gdasDriver(o)));
    case 'proxyless': {
      const { warmup, cost, ...rest } = o as { warmup?: number; cost?: 'macs' | 'latency' };
      return E.right(eraseDriver(proxylessDriver(rest, { ...(warmup === undefined ? {} : { warmup }), ...(cost === undefined ? {} : { cost }) })));
    }
    case 'enas': {
      const { controllerSamples, ...rest } = o as { controllerSamples?: number };
      return E.right(eraseDriver(enasDriver(rest, controllerSamples === undefined ? {} : { controllerSamples })));
    }
    case 'spos': {
      const { macsLimit, bins, recalibrationBatches, evalSize, ...rest } = o as Record<string, never>;
      const driverOptions = Object.fromEntries(Object.entries({ macsLimit, bins, recalibrationBatches, evalSize }).filter(([, v]) => v !== undefined));
      return E.right(eraseDriver(sposDriver(rest, driverOptions)));
    }
    case 'fbnet': {
      const { warmup, latencyTable, latencyCache, ...rest } = o as { warmup?: number; latencyTable?: string; latencyCache?: string };
      const driverOptions = { ...(warmup === undefined ? {} : { warmup }), ...(latencyTable === undefined ? {} : { latencyTable }), ...(latencyCache === undefined ? {} : { latencyCache }) };
      return E.right(eraseDriver(fbnetDriver(rest, driverOptions)));
    }
    default: {
      const never: never = name;
      return E.left([`unknown one-shot algorithm ${String(never)}`]);
    }
  }
};

/** P-DARTS' options (stage plan and DARTS') decoded. */
export const pdartsOptions = (options: unknown): E.Either<readonly string[], PdartsOptions> =>
  E.map((o: Record<string, unknown>) => o as PdartsOptions)(decodeOneShotOptions('pdarts', options));
