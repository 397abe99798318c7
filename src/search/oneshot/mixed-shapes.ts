/**
 * Mixed mode (DARTS, P-DARTS, GDAS, FBNet, ProxylessNAS's gate gradient) computes every candidate of a layer
 * choice and sums them weighted, which needs one output shape. A layer choice whose candidates differ in shape
 * (allowed by NNI's classic mode, and searched here by classic strategies, ENAS and SPOS) is refused before
 * anything runs, naming the key and the shapes.
 *
 * @example
 * mixedShapeErrors('darts', space);
 * // [{ tag: 'UnsupportedChoice', key: 'first_conv', message: "darts cannot search 'first_conv' (0 → [20, 24, 24], 1 → [20, 26, 26]): ..." }]
 */
import { describeShapeVarying, shapeVaryingKeys } from '../../ir/shape-varying.ts';
import type { SearchSpace } from '../../ir/space.ts';
import type { StrategyError } from '../strategy.ts';

/** One error per layer choice of `space` whose candidates differ in output shape. */
export const mixedShapeErrors = (strategy: string, space: SearchSpace): readonly StrategyError[] =>
  shapeVaryingKeys(space).map((v) => ({
    tag: 'UnsupportedChoice',
    strategy,
    key: v.key,
    kind: 'layer',
    message:
      `${strategy} cannot search ${describeShapeVarying(v)}: its candidates differ in output shape, and mixed mode sums ` +
      `every candidate's output; search this space with a classic strategy, enas or spos`,
  }));
