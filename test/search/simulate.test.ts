/**
 * The pure simulator (src/search/simulate.ts) and the table decoder (src/search/table.ts): a trial returns one of
 * the proposed architecture's own seed values; regret is measured on seed means; the decoder validates with io-ts
 * and reports every bad line; the committed tables decode.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { architectureKey, enumerateArchitectures } from '../../src/ir/architecture.ts';
import { erase, gridSearch, randomSearch, regularizedEvolution, tpe } from '../../src/search/index.ts';
import { regretCurve, simulate, tableOptimum } from '../../src/search/simulate.ts';
import { type ArchEntry, type SeedTable, decodeSeedTable, meanValid, unionTables } from '../../src/search/table.ts';
import { fashionSpace } from './fashion-table.ts';

const archs = [...enumerateArchitectures(fashionSpace)];

/** A synthetic table over the fashion-small space: architecture i, seed s → a distinct value. */
const synthetic = (values: readonly (readonly number[])[]): SeedTable =>
  new Map(
    archs.map((arch, i) => {
      const v = values[i % values.length]!.map((x, s) => x + i * 1e-3 + s * 1e-6);
      const e: ArchEntry = { arch, seeds: v.map((_, s) => s), valid: v, test: v.map(() => NaN), params: 1, macs: 1 };
      return [architectureKey(arch), e] as const;
    }),
  );

const tables = join(import.meta.dirname, '../../bench/tabular');

describe('simulate', () => {
  it("every trial returns a value drawn from the proposed architecture's own seeds (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.constantFrom(erase(randomSearch()), erase(regularizedEvolution({ population: 6, sample: 3 })), erase(tpe({ startup: 5 }))),
        (values, seed, strategy) => {
          const table = synthetic(values);
          const r = simulate(strategy, fashionSpace, table, 30, seed);
          expect(r.trials.length).toBe(30);
          for (const t of r.trials) {
            const e = table.get(t.key)!;
            expect(t.draw).toBeGreaterThanOrEqual(0);
            expect(t.draw).toBeLessThan(e.valid.length);
            expect(t.value).toBe(e.valid[t.draw]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('draws every seed of an architecture, about uniformly', () => {
    const table = synthetic([[0.1, 0.5, 0.9]]);
    const counts = [0, 0, 0];
    for (let s = 0; s < 20; s++) for (const t of simulate(erase(randomSearch()), fashionSpace, table, 72, s).trials) counts[t.draw]! += 1;
    const n = counts.reduce((a, b) => a + b, 0);
    // 1,440 draws: each count's standard deviation is √(n·(1/3)(2/3)) ≈ 17.9; 6 σ is 107.
    for (const c of counts) expect(Math.abs(c - n / 3)).toBeLessThan(107);
  });

  it('regret is measured on seed means: grid search over a whole table ends at the incumbent of its best draw', () => {
    const table = synthetic([[0.5, 0.6, 0.7], [0.2, 0.3, 0.95]]);
    const r = simulate(erase(gridSearch()), fashionSpace, table, 100, 1);
    expect(r.trials.length).toBe(72);
    expect(r.regret.length).toBe(100);
    const best = r.trials.reduce((a, b) => (b.value > a.value ? b : a));
    expect(r.regret[99]).toBeCloseTo(tableOptimum(table) - meanValid(table.get(best.key)!), 12);
  });

  it('with one seed per architecture regret never increases and grid reaches 0', () => {
    const table = synthetic([[0.3], [0.8], [0.5]]);
    const r = simulate(erase(gridSearch()), fashionSpace, table, 72, 0);
    for (let i = 1; i < r.regret.length; i++) expect(r.regret[i]).toBeLessThanOrEqual(r.regret[i - 1]!);
    expect(r.regret[71]).toBe(0);
  });

  it('regretCurve aggregates per budget', () => {
    const c = regretCurve([[0.1, 0.05], [0.2, 0], [0.3, 0.1]]);
    expect(c.mean[0]).toBeCloseTo(0.2, 12);
    expect(c.mean[1]).toBeCloseTo(0.05, 12);
    expect(c.ciLo[0]).toBeCloseTo(0.2 - 1.96 * Math.sqrt(0.01 / 3), 12);
    expect(c.q975[0]).toBeCloseTo(0.295, 12);
    expect(c.runs).toBe(3);
  });
});

describe('table decoder', () => {
  it('reports every bad line with its number, and duplicates', () => {
    const good = '{"arch":{"a":[0]},"objective":0.5}';
    const r = decodeSeedTable([good, 'not json', '{"arch":{"a":[1]}}', good].join('\n'));
    expect(E.isLeft(r)).toBe(true);
    if (E.isLeft(r)) {
      expect(r.left.length).toBe(3);
      expect(r.left[0]).toMatch(/^line 2: not JSON/);
      expect(r.left[1]).toMatch(/^line 3: not a table record/);
      expect(r.left[2]).toMatch(/^line 4: .*appears twice/);
    }
  });

  it('decodes the committed tables; the union keeps the 3-seed rows over the old seed-0 rows', () => {
    const old = decodeSeedTable(readFileSync(join(tables, 'fashion-small-1seed.jsonl'), 'utf8'));
    const now = decodeSeedTable(readFileSync(join(tables, 'fashion-small.jsonl'), 'utf8'));
    expect(E.isRight(old) && E.isRight(now)).toBe(true);
    if (!(E.isRight(old) && E.isRight(now))) return;
    expect(old.right.size).toBe(72);
    const u = unionTables(now.right, old.right);
    expect(u.size).toBe(72);
    for (const [k, e] of now.right) {
      for (const [i, s] of e.seeds.entries()) expect(u.get(k)!.valid[u.get(k)!.seeds.indexOf(s)]).toBe(e.valid[i]);
    }
    for (const [k, e] of u) if (!now.right.has(k)) expect(e.valid).toEqual(old.right.get(k)!.valid);
  });
});
