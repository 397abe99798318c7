/**
 * Writes N uniformly random architectures of a model's space as NNI-format JSON files (the baseline of
 * scripts/oneshot-quality.sh: the one-shot algorithms' derived architectures against random ones of the same
 * space under the same retrain). Seeded, so the files are the same on every run.
 *
 * @example
 * $ npx tsx bench/quality/random-archs.ts examples/fashion-cells.ts 5 2026 bench/quality/archs
 * # writes random-1.json … random-5.json
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { architectureKey, formatArchitectureJson, randomArchitecture } from '../../src/ir/architecture.ts';
import { seedRng } from '../../src/ir/rng.ts';
import { searchSpace } from '../../src/ir/space.ts';
import { loadModel } from '../../src/runtime/load-model.ts';

const [model, countArg, seedArg, dir] = process.argv.slice(2);
if (model === undefined || countArg === undefined || seedArg === undefined || dir === undefined) {
  console.error('usage: random-archs.ts MODEL COUNT SEED DIR');
  process.exit(2);
}
const loaded = await loadModel(model);
if (E.isLeft(loaded)) {
  console.error(loaded.left.map((e) => e.message).join('\n'));
  process.exit(1);
}
const space = searchSpace(loaded.right.graph);
mkdirSync(dir, { recursive: true });
let rng = seedRng(Number(seedArg));
for (let i = 1; i <= Number(countArg); i++) {
  const [arch, next] = randomArchitecture(space, rng);
  rng = next;
  const file = join(dir, `random-${i}.json`);
  writeFileSync(file, formatArchitectureJson(space, arch));
  console.log(`${file}: ${architectureKey(arch)}`);
}
