/**
 * io-ts building blocks for the IR's codecs: closed records (an unexpected field is an error), unions picked by
 * their `kind`, and the attribute types ops share (pairs, shapes, names, initialisers). A leaf module: the op
 * definitions (ops.ts) and the graph format (serialize.ts) both read it.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';

/** Initialisation scheme of a parameter: PyTorch's defaults are expressible with these. */
export type Init =
  | { readonly kind: 'uniform'; readonly bound: number } // U(-bound, bound); kaiming_uniform(a=√5) → bound = 1/√fan_in
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'ones' }
  | { readonly kind: 'zeros' };

/** How an input choice combines the inputs it chose. */
export type Reduction = 'sum' | 'mean' | 'concat' | 'none';

export const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * `t.exact(t.type(props))` that also fails on fields it does not know: an op with a misspelt or extra
 * attribute must not be silently read as another op.
 */
export const closed = <P extends t.Props>(name: string, props: P): t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown> => {
  const exact = t.exact(t.type(props), name);
  return new t.Type(
    name,
    (u): u is t.TypeOf<t.TypeC<P>> => exact.is(u) && Object.keys(u as object).every((k) => hasOwn(props, k)),
    (u, c) => {
      const r = exact.validate(u, c);
      const extra = t.UnknownRecord.is(u) ? Object.keys(u).filter((k) => !hasOwn(props, k)) : [];
      if (extra.length === 0) return r;
      const unexpected: t.ValidationError = {
        value: u,
        context: c,
        message: `unexpected field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} (expected ${name})`,
      };
      return E.left([...(E.isLeft(r) ? r.left : []), unexpected]);
    },
    exact.encode,
  );
};

/**
 * A union discriminated by `kind`, validated by the one codec its kind names (io-ts's own union would report
 * a failure per member, which buries the one that matters).
 */
export const byKind = <A extends { readonly kind: string }>(
  name: string,
  codecs: { readonly [K in A['kind']]: t.Decoder<unknown, Extract<A, { readonly kind: K }>> },
): t.Type<A, A, unknown> => {
  const table = codecs as unknown as Readonly<Record<string, t.Decoder<unknown, A>>>;
  const kinds = Object.keys(table);
  const pick = (u: unknown): t.Decoder<unknown, A> | undefined =>
    t.UnknownRecord.is(u) && typeof u['kind'] === 'string' && hasOwn(table, u['kind']) ? table[u['kind']] : undefined;
  return new t.Type<A, A, unknown>(
    name,
    (u): u is A => {
      const codec = pick(u);
      return codec !== undefined && E.isRight(codec.decode(u));
    },
    (u, c) => {
      const codec = pick(u);
      return codec !== undefined ? codec.validate(u, c) : t.failure(u, c, `expected ${name} with "kind" one of ${kinds.join(', ')}`);
    },
    t.identity,
  );
};

export const PairC = t.tuple([t.Int, t.Int], 'Pair');
export const ShapeC = t.readonlyArray(t.Int, 'Shape');
export const Names = t.readonlyArray(t.string, 'string[]');

export const InitC = byKind<Init>('Init', {
  uniform: closed('uniform', { kind: t.literal('uniform'), bound: t.number }),
  normal: closed('normal', { kind: t.literal('normal'), std: t.number }),
  ones: closed('ones', { kind: t.literal('ones') }),
  zeros: closed('zeros', { kind: t.literal('zeros') }),
});

export const ReductionC: t.Type<Reduction, Reduction, unknown> = t.keyof({ sum: null, mean: null, concat: null, none: null }, 'Reduction');

/** The codec of an op kind without attributes. */
export const bare = <K extends string>(kind: K) => closed(kind, { kind: t.literal(kind) });
