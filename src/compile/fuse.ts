/**
 * Epilogue fusion: an elementwise op whose input is produced by a kernel that can apply it at its store, and
 * that input has no other use, joins that kernel (one dispatch, no intermediate buffer). Chains:
 * - GEMM heads (conv2d, linear): `act(acc + bias) + residual` — at most one activation, then at most one add.
 * - elementwise heads (add, mul, activations, scale, BatchNorm): any activations/scales, at most one add.
 * - pooling heads: activations and scales.
 *
 * The chain is emitted at its last node, where every input of every chain node is available (topological order).
 */
import type { Node } from '../ir/node.ts';
import type { Chain, ChainStep, HeadKind } from './emitter.ts';
import type { Activation } from './kernels/wgsl.ts';
import { loweringOf } from './lowerings.ts';

export type { Chain, ChainStep, HeadKind } from './emitter.ts';

/** Which epilogues a node's kernel can absorb: its lowering's (lowerings.ts); 'none' for leaves, views, choices. */
export const headKind = (n: Node): HeadKind => {
  const l = loweringOf(n.op);
  return l.kind === 'kernel' ? l.epilogue : 'none';
};

const ACTS: readonly string[] = ['relu', 'relu6', 'sigmoid', 'tanh', 'gelu'];

/** The step `user` would add after `prev`, if it is an elementwise op of one operand besides `prev`. */
const stepOf = (user: Node, prev: Node): ChainStep | undefined => {
  const op = user.op;
  // Epilogues index every operand like the output: an unbatched value meeting a batched one is not fused.
  if (user.batched !== prev.batched) return undefined;
  if (ACTS.includes(op.kind)) return { node: user, step: { kind: 'act', act: op.kind as Activation } };
  if (op.kind === 'scale') return { node: user, step: { kind: 'scale', factor: op.factor } };
  if (op.kind === 'add' && user.inputs.length === 2) {
    const other = user.inputs[0]!.id === prev.id ? user.inputs[1]! : user.inputs[0]!;
    if (other.id === prev.id || other.batched !== user.batched) return undefined;
    return { node: user, step: { kind: 'add' }, residual: other };
  }
  return undefined;
};

/**
 * Activations the GEMM epilogue (kernels/epilogue.ts) may apply. relu and relu6 are left out while that
 * epilogue computes them with WGSL `max`/`min`, which drop NaN on lavapipe (relu(NaN) must be NaN, as in
 * PyTorch and the reference); they then run as a separate NaN-preserving elementwise kernel.
 */
export const GEMM_ACTIVATIONS: ReadonlySet<string> = new Set(['sigmoid', 'tanh', 'gelu']);

const accepts = (kind: HeadKind, steps: readonly ChainStep[], next: ChainStep): boolean => {
  const adds = steps.filter((s) => s.step.kind === 'add').length;
  switch (kind) {
    case 'gemm': {
      if (next.step.kind === 'scale') return false;
      if (next.step.kind === 'act' && !GEMM_ACTIVATIONS.has(next.step.act)) return false;
      if (next.step.kind === 'add') return adds === 0;
      return adds === 0 && steps.length === 0;
    }
    case 'elementwise':
      return next.step.kind !== 'add' || adds === 0;
    case 'pool':
      return next.step.kind !== 'add';
    case 'none':
      return false;
  }
};

/**
 * The fusion chains of a graph: `chains` maps each chain's last node to the chain; `absorbed` holds the ids of
 * the nodes that emit nothing themselves (all chain nodes but the last). `uses(id)` counts a node's uses
 * (occurrences among inputs, plus graph outputs); `soleUser(id)` is the user of a node used once.
 *
 * @example
 * const { chains } = planFusion(order, uses, soleUser); // conv → relu → add(·, skip): one chain ending at the add
 */
export const planFusion = (
  order: readonly Node[],
  uses: ReadonlyMap<string, number>,
  soleUser: ReadonlyMap<string, Node>,
): { readonly chains: ReadonlyMap<string, Chain>; readonly absorbed: ReadonlySet<string> } => {
  const chains = new Map<string, Chain>();
  const absorbed = new Set<string>();
  for (const n of order) {
    const kind = headKind(n);
    // A chain's last node emits that chain: it cannot head another.
    if (kind === 'none' || absorbed.has(n.id) || chains.has(n.id)) continue;
    const steps: ChainStep[] = [];
    let cur = n;
    for (;;) {
      if (uses.get(cur.id) !== 1) break;
      const user = soleUser.get(cur.id);
      // A user already fused into another chain (e.g. add(relu(x), tanh(x)) took relu) stays there.
      if (user === undefined || chains.has(user.id) || absorbed.has(user.id)) break;
      const s = stepOf(user, cur);
      if (s === undefined || !accepts(kind, steps, s)) break;
      steps.push(s);
      absorbed.add(cur.id);
      cur = user;
    }
    if (steps.length > 0) chains.set(cur.id, { head: n, steps });
  }
  return { chains, absorbed };
};
