/**
 * `restrictCandidates(graph, kept)`: the supernet with some layer choices narrowed to a subset of their candidates
 * (P-DARTS drops the weakest candidates between stages). Every site of a key is narrowed alike; the names and the
 * order of the kept candidates are preserved, so a kept candidate keeps its name (and its parameter paths) and an
 * architecture of the narrowed space maps back to the full one by name. Candidates no longer reachable simply
 * leave the graph.
 *
 * @example
 * const narrowed = restrictCandidates(supernet, { op1: [0, 2] }); // Either<readonly IRError[], Graph>
 * searchSpace(narrowed.right).decisions[0].names;                // ['conv3x3', 'maxpool'] (of conv3x3, conv5x5, maxpool)
 */
import * as E from 'fp-ts/lib/Either.js';
import type { IRError } from './errors.ts';
import { type Graph, choiceNodes } from './graph.ts';
import { mkNode, rewrite } from './node.ts';

const bad = (key: string, message: string): IRError => ({ tag: 'InvalidAttribute', node: key, op: 'layerChoice', message });

/** Narrows layer choices to the candidate indices in `kept` (ascending or not; each key's list non-empty). */
export const restrictCandidates = (g: Graph, kept: Readonly<Record<string, readonly number[]>>): E.Either<readonly IRError[], Graph> => {
  const errors: IRError[] = [];
  const counts = new Map<string, number>();
  for (const n of choiceNodes(g)) if (n.op.kind === 'layerChoice') counts.set(n.op.key, n.inputs.length);
  for (const [key, idx] of Object.entries(kept)) {
    const n = counts.get(key);
    if (n === undefined) {
      errors.push(bad(key, `restrictCandidates: '${key}' is not a layer choice of the model (layer choices: ${[...counts.keys()].join(', ') || 'none'})`));
      continue;
    }
    if (idx.length === 0) errors.push(bad(key, `restrictCandidates: '${key}' would keep no candidate`));
    const wrong = idx.filter((i) => !(Number.isInteger(i) && i >= 0 && i < n));
    if (wrong.length > 0) errors.push(bad(key, `restrictCandidates: '${key}' has ${n} candidates; cannot keep [${wrong.join(', ')}]`));
    if (new Set(idx).size !== idx.length) errors.push(bad(key, `restrictCandidates: '${key}' keeps a candidate twice: [${idx.join(', ')}]`));
  }
  if (errors.length > 0) return E.left(errors);
  const { roots } = rewrite(g.outputs, (n, inputs) => {
    const op = n.op;
    if (op.kind === 'layerChoice' && kept[op.key] !== undefined) {
      const idx = [...kept[op.key]!].sort((a, b) => a - b);
      return mkNode({ ...op, names: idx.map((i) => op.names[i]!) }, idx.map((i) => inputs[i]!), n.name);
    }
    return inputs.every((x, i) => x.id === n.inputs[i]!.id) ? n : mkNode(op, inputs, n.name);
  });
  return E.right({ inputs: g.inputs, outputs: roots });
};
