// The README's example must run as written: extract its TypeScript block, run it, and check what it prints
// against the space and parameter count computed here independently.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('README example', () => {
  it('runs and prints the ss_gen JSON and the fixed parameter count', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code, 'README has a ```ts block').toBeDefined();
    expect(code!.split('\n').filter((l) => l.trim() !== '').length).toBeLessThanOrEqual(20);
    // Run inside the repo so that the package self-reference `nasgraph/ir` resolves, to the sources (the export
    // condition `nasgraph-source`, package.json) rather than a built dist/.
    const dir = mkdtempSync(join(root, 'test', '.readme-'));
    const file = join(dir, 'example.ts');
    writeFileSync(file, code!);
    const out = execFileSync(process.execPath, ['--conditions=nasgraph-source', '--import', 'tsx', file], { cwd: root, encoding: 'utf8' }).trim().split('\n');
    expect(JSON.parse(out[0]!)).toEqual({
      conv1: { _type: 'layer_choice', _value: ['conv3x3', 'conv5x5'] },
      skip: { _type: 'input_choice', _value: { candidates: [''], n_chosen: null } },
    });
    // conv5x5 1→8: 8·25+8; conv2 8→8 3x3: 8·8·9+8; fc 8·14·14→10: 1568·10+10.
    expect(Number(out[1])).toBe(8 * 25 + 8 + (8 * 8 * 9 + 8) + (1568 * 10 + 10));
  });
});
