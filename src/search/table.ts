/**
 * Tabular benchmarks as data (issue 15): the JSONL records that bench/tabular/run.ts writes — one per finished
 * (architecture, seed) training — decoded with io-ts, and grouped into a `SeedTable`: per architecture key, the
 * validation (and test) accuracy of each of its seeds. Pure: the caller reads the file; decoding reports every bad
 * line at once, each naming its line number and the field.
 *
 * The old one-seed table (`nasgraph search` trial log: `{ arch, objective }` per line) decodes too, as one seed.
 *
 * @example
 * const t = decodeSeedTable(readFileSync('bench/tabular/fashion-small.jsonl', 'utf8'));
 * if (E.isRight(t)) t.right.get('conv1=0;…')?.valid; // [0.81, 0.80, 0.82]
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { architectureKey } from '../ir/architecture.ts';

const Arch = t.record(t.string, t.readonlyArray(t.number));
const NumOrNull = t.union([t.number, t.null]);

/** One epoch of one training, as recorded. */
export const EpochRecord = t.type({
  epoch: t.number,
  trainLoss: t.number,
  trainAccuracy: t.number,
  validLoss: NumOrNull,
  validAccuracy: NumOrNull,
  testLoss: NumOrNull,
  testAccuracy: NumOrNull,
  seconds: t.number,
});

/** One line of a tabular benchmark written by bench/tabular/run.ts. */
export const TableRecord = t.type({
  arch: Arch,
  key: t.string,
  names: t.record(t.string, t.unknown),
  seed: t.number,
  error: t.union([t.string, t.null]),
  epochs: t.readonlyArray(EpochRecord),
  params: t.number,
  macs: t.number,
  latencyMs: NumOrNull,
  trainSeconds: t.number,
  load1: t.number,
  finishedAt: t.string,
});
export type TableRecord = t.TypeOf<typeof TableRecord>;

/** One line of the old one-seed table (a `nasgraph search` trial log). */
const TrialRecord = t.type({ arch: Arch, objective: t.number });

/** The key of an (architecture, seed) pair (the runner's "done" set). */
export const recordKey = (arch: Architecture, seed: number): string => `${architectureKey(arch)}#${seed}`;

/** What a table holds for one architecture: one entry per seed (in seed order). */
export interface ArchEntry {
  readonly arch: Architecture;
  readonly seeds: readonly number[];
  /** Final validation accuracy per seed (the search objective). */
  readonly valid: readonly number[];
  /** Final test accuracy per seed (NaN where not recorded: the old table). */
  readonly test: readonly number[];
  readonly params: number;
  readonly macs: number;
}

/** A tabular benchmark: architecture key → its seeds' values. */
export type SeedTable = ReadonlyMap<string, ArchEntry>;

const explain = (errors: t.Errors): string =>
  errors
    .map((e) => {
      const path = e.context.map((c) => c.key).filter((k) => k !== '').join('.');
      return `${path === '' ? 'the record' : path}: got ${JSON.stringify(e.value)}`;
    })
    .slice(0, 3)
    .join('; ');

/**
 * Decodes a JSONL table (new records or the old one-seed trial log) into a `SeedTable`, or every problem found:
 * a line that is not JSON, a record of neither form, a duplicate (architecture, seed). Failed trainings
 * (`error` not null) are skipped: they have no accuracy.
 *
 * @example
 * decodeSeedTable('{"arch":{"a":[0]},"objective":0.8}\n'); // Right(Map { 'a=0' => { valid: [0.8], seeds: [0], … } })
 */
export const decodeSeedTable = (text: string): E.Either<readonly string[], SeedTable> => {
  const errors: string[] = [];
  const acc = new Map<string, { arch: Architecture; rows: { seed: number; valid: number; test: number }[]; params: number; macs: number }>();
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `line ${i + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      errors.push(`${where}: not JSON`);
      return;
    }
    const rec = TableRecord.decode(json);
    let row: { arch: Architecture; seed: number; valid: number; test: number; params: number; macs: number } | undefined;
    if (E.isRight(rec)) {
      if (rec.right.error !== null) return;
      const last = rec.right.epochs.at(-1);
      if (last === undefined || last.validAccuracy === null) {
        errors.push(`${where}: a successful training with no validation accuracy`);
        return;
      }
      row = { arch: rec.right.arch, seed: rec.right.seed, valid: last.validAccuracy, test: last.testAccuracy ?? NaN, params: rec.right.params, macs: rec.right.macs };
    } else {
      const old = TrialRecord.decode(json);
      if (E.isLeft(old)) {
        errors.push(`${where}: not a table record (${explain(rec.left)})`);
        return;
      }
      const o = json as { params?: unknown; flops?: unknown };
      row = { arch: old.right.arch, seed: 0, valid: old.right.objective, test: NaN, params: typeof o.params === 'number' ? o.params : NaN, macs: typeof o.flops === 'number' ? o.flops : NaN };
    }
    const key = architectureKey(row.arch);
    const rk = `${key}#${row.seed}`;
    if (seen.has(rk)) {
      errors.push(`${where}: architecture ${key} seed ${row.seed} appears twice`);
      return;
    }
    seen.add(rk);
    const entry = acc.get(key) ?? { arch: row.arch, rows: [], params: row.params, macs: row.macs };
    entry.rows.push({ seed: row.seed, valid: row.valid, test: row.test });
    acc.set(key, entry);
  });
  if (errors.length > 0) return E.left(errors);
  return E.right(
    new Map(
      [...acc].map(([k, e]) => {
        const rows = [...e.rows].sort((a, b) => a.seed - b.seed);
        return [k, { arch: e.arch, seeds: rows.map((r) => r.seed), valid: rows.map((r) => r.valid), test: rows.map((r) => r.test), params: e.params, macs: e.macs }] as const;
      }),
    ),
  );
};

/** The mean of an architecture's seeds' validation accuracies (its "true" value in the simulator). */
export const meanValid = (e: ArchEntry): number => e.valid.reduce((a, b) => a + b, 0) / e.valid.length;

/** The table restricted to architectures with at least `n` seeds. */
export const withSeeds = (table: SeedTable, n: number): SeedTable => new Map([...table].filter(([, e]) => e.valid.length >= n));

/**
 * The union of two tables, per (architecture, seed): `primary`'s value wherever it has that seed, `secondary`'s
 * otherwise (e.g. the 3-seed fashion-small table so far, completed by the old one-seed table's seed-0 rows, which
 * were trained with the same recipe and seed).
 *
 * @example
 * unionTables(threeSeed, oneSeed).size; // 72 once either covers every architecture
 */
export const unionTables = (primary: SeedTable, secondary: SeedTable): SeedTable => {
  const keys = new Set([...primary.keys(), ...secondary.keys()]);
  return new Map(
    [...keys].map((k) => {
      const p = primary.get(k);
      const s = secondary.get(k);
      const rows = new Map<number, { valid: number; test: number }>();
      s?.seeds.forEach((seed, i) => rows.set(seed, { valid: s.valid[i]!, test: s.test[i]! }));
      p?.seeds.forEach((seed, i) => rows.set(seed, { valid: p.valid[i]!, test: p.test[i]! }));
      const seeds = [...rows.keys()].sort((a, b) => a - b);
      const base = (p ?? s)!;
      return [k, { arch: base.arch, seeds, valid: seeds.map((x) => rows.get(x)!.valid), test: seeds.map((x) => rows.get(x)!.test), params: base.params, macs: base.macs }] as const;
    }),
  );
};
