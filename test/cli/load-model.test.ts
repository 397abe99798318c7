// loadModel in-process (vitest transforms TypeScript itself): the result for each kind of model file.
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/runtime/load-model.ts';
import { irImport, root, scratch } from './run-cli.ts';
import { join } from 'node:path';

describe('loadModel', () => {
  const tmp = scratch();
  afterAll(() => tmp.dispose());

  it('imports and builds an example', async () => {
    const r = await loadModel(join(root, 'examples', 'naive.ts'));
    expect(E.isRight(r) && r.right.def.name).toBe('naive');
    expect(E.isRight(r) && r.right.graph.outputs[0]!.shape).toEqual([10]);
  });

  it('a model file that throws while loading: the error names the file and the line it threw at', async () => {
    const f = tmp.file('throws.ts', `${irImport('defineModel')}const width = 3;\nif (width > 2) throw new Error('width too large');\nexport default defineModel({ name: 't', input: [1], layer: undefined as never });\n`);
    const r = await loadModel(f);
    if (E.isRight(r)) throw new Error('expected an error');
    expect(r.left.map((e) => e.message)).toEqual([`${f}:3:22: import failed: width too large`]);
  });

  it('a model file whose import throws elsewhere names where', async () => {
    const helper = tmp.file('helper.mjs', `export const make = () => {\n  throw new Error('helper failed');\n};\n`);
    const f = tmp.file('uses-helper.ts', `import { make } from ${JSON.stringify(helper)};\nmake();\nexport default {};\n`);
    const r = await loadModel(f);
    if (E.isRight(r)) throw new Error('expected an error');
    // The model file is on the stack (the call at line 2); the message points there.
    expect(r.left[0]!.message).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2:\\d+: import failed: helper failed$`));
  });

  it('reports a missing file', async () => {
    const r = await loadModel(join(root, 'no-such-model.ts'));
    expect(E.isLeft(r) && r.left.map((e) => e.tag)).toEqual(['FileNotFound']);
  });

  it('reports a default export that is not a ModelDef, with every problem', async () => {
    const r = await loadModel(tmp.file('bad.js', 'export default { input: [1, 2] };\n'));
    if (E.isRight(r)) throw new Error('expected an error');
    expect(r.left).toHaveLength(1);
    expect(r.left[0]!.tag).toBe('NotAModel');
    expect(r.left[0]!.message).toContain("'name'");
    expect(r.left[0]!.message).toContain("'layer'");
  });

  it('reports a default export that is a function of arguments', async () => {
    const r = await loadModel(tmp.file('fn.js', 'export default (x) => x;\n'));
    expect(E.isLeft(r) && r.left[0]!.message).toContain('function of 1 argument');
  });

  it('reports each build error with the file', async () => {
    const f = tmp.file(
      'shapes.ts',
      // (Candidates of different shapes are legal since NNI's classic example is: a kernel wider than its input is not.)
      `${irImport('defineModel, sequential, conv2d')}export default defineModel({ name: 's', input: [1, 9, 9], layer: sequential({ a: conv2d({ out: 2, kernel: 11 }), b: conv2d({ out: 2, kernel: 3 }) }) });\n`,
    );
    const r = await loadModel(f);
    if (E.isRight(r)) throw new Error('expected an error');
    expect(r.left.map((e) => e.tag)).toEqual(['BuildFailed']);
    expect(r.left[0]!.message.startsWith(`${f}: `)).toBe(true);
    expect(r.left[0]!.message).toContain('a: conv2d kernel 11x11 does not fit the input');
  });
});
