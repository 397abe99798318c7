/**
 * The one-shot registry and the drivers' declared support: options decoded from JSON with every unknown or mistyped
 * field named; every driver refuses exactly the decisions whose kind it does not list in `supports`, naming the
 * key (checked on examples/fashion-small.ts, which has layer choices of 2 and 3 candidates and an input choice of
 * any number of inputs), ENAS also the unequal candidate counts.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import fashionSmall from '../../../examples/fashion-small.ts';
import fashionCells from '../../../examples/fashion-cells.ts';
import { searchSpace } from '../../../src/ir/space.ts';
import { createDriver, decodeOneShotOptions } from '../../../src/runtime/oneshot/registry.ts';
import { choiceKind } from '../../../src/search/strategy.ts';
import { build } from '../../examples/helpers.ts';

const small = searchSpace(build(fashionSmall));
const cells = searchSpace(build(fashionCells));
const names = ['darts', 'gdas', 'proxyless', 'enas', 'spos'] as const;

describe('one-shot registry', () => {
  for (const name of names) {
    it(`${name}: refuses exactly the unsupported decisions, naming them; accepts fashion-cells`, () => {
      const d = createDriver(name, {});
      if (E.isLeft(d)) throw new Error(d.left.join('\n'));
      const refused = d.right.check(small).filter((e) => e.tag === 'UnsupportedChoice');
      const unsupported = small.decisions.filter((x) => !d.right.supports.includes(choiceKind(x))).map((x) => x.key);
      const byKind = refused.filter((e) => e.tag === 'UnsupportedChoice' && !/same number of candidates/.test(e.message)).map((e) => (e.tag === 'UnsupportedChoice' ? e.key : ''));
      expect(byKind.sort()).toEqual([...unsupported].sort());
      for (const e of refused) expect(e.message).toContain(`'${e.tag === 'UnsupportedChoice' ? e.key : ''}'`);
      if (name === 'enas') expect(refused.some((e) => /'conv2' has 3, expected 2/.test(e.message))).toBe(true);
      expect(d.right.check(cells)).toEqual([]);
    });
  }

  it('names unknown and mistyped options, for every algorithm', () => {
    for (const name of [...names, 'pdarts'] as const) {
      const r = decodeOneShotOptions(name, { bogus: 1 });
      expect(E.isLeft(r) && r.left.join('\n')).toMatch(new RegExp(`${name}: unknown option 'bogus'`));
    }
    const typed = decodeOneShotOptions('darts', { order: 'two', lr: [1] });
    expect(E.isLeft(typed) && typed.left.join('\n')).toMatch(/'order'[\s\S]*'lr'|'lr'[\s\S]*'order'/);
    expect(E.isLeft(decodeOneShotOptions('spos', { bins: { lower: 1 } }))).toBe(true);
    expect(E.isRight(decodeOneShotOptions('spos', { macsLimit: 2e6, bins: { lower: 1e5, upper: 2e6, bins: 3 }, generations: 2 }))).toBe(true);
    expect(E.isLeft(decodeOneShotOptions('darts', [1, 2]))).toBe(true);
  });
});
