// README's "Layers and ops" and "Write your own space" sections against the code: every layer and choice that
// `nasgraph/ir` exports has its row, and the space the README writes builds, has the size and (for the README's
// architecture) the parameter count computed here from the layers' shapes, through the real `nasgraph` bin.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as choices from '../../src/ir/choice.ts';
import * as layers from '../../src/ir/layers.ts';
import { lines, nasgraph, root } from '../cli/run-cli.ts';

const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The text of the README section `## title`, up to the next `## `. */
const section = (title: string): string => {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README has a section "## ${title}"`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
};

/** The first fenced block of language `lang` in `text`. */
const fenced = (text: string, lang: string): string => {
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(text);
  expect(m, `a \`\`\`${lang} block`).not.toBeNull();
  return m![1]!;
};

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('README: layers and ops', () => {
  it('has a table row for every layer and choice function of nasgraph/ir', () => {
    const text = section('Layers and ops');
    const exported = [...Object.entries(layers), ...Object.entries(choices)].filter(([, v]) => typeof v === 'function').map(([k]) => k);
    expect(exported.length).toBeGreaterThan(30);
    const rows = text.split('\n').filter((l) => l.startsWith('| `'));
    const missing = exported.filter((name) => !rows.some((r) => r.split('|')[1]!.includes(`\`${name}(`) || r.split('|')[1]!.includes(` ${name}(`)));
    expect(missing).toEqual([]);
  });
});

describe('README: write your own space', () => {
  it('the space it writes builds, with the size and parameter count it states', async () => {
    const text = section('Write your own space');
    const code = fenced(text, 'ts');
    expect(code).toContain("from 'nasgraph/ir'");
    // Inside the repository, so that the self-reference `nasgraph/ir` resolves (to the sources, as the bin does).
    const dir = mkdtempSync(join(root, 'test', '.readme-own-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'my-space.ts'), code);

    // conv1, conv2: 3 candidates each; skipconnect: its input or nothing; pool2: 2.
    const size = 3 * 3 * 2 * 2;
    const space = await nasgraph('space', join(dir, 'my-space.ts'));
    expect(space.stderr).toBe('');
    expect(space.code).toBe(0);
    expect(space.stdout).toContain(`4 decisions, ${size} architectures`);
    expect(fenced(text, 'sh')).toContain(`4 decisions, ${size} architectures`);

    const arch = /echo '(\{.*\})' > arch\.json/.exec(fenced(text, 'sh'))?.[1];
    expect(arch).toBeDefined();
    expect(JSON.parse(arch!)).toEqual({ conv1: 'dil3x3', conv2: 'conv3x3', skipconnect: [0], pool2: 'avg' });
    writeFileSync(join(dir, 'arch.json'), arch!);
    const check = await nasgraph('check', join(dir, 'my-space.ts'), join(dir, 'arch.json'));
    expect(check.code).toBe(0);
    // conv1 dil3x3 1 → 6 (3x3), conv2 3x3 6 → 16, conv3 1x1 16 → 16, bn 16 (weight, bias), fc1 16·4·4 → 120, fc2 120 → 10.
    const params = 6 * 1 * 9 + 6 + (16 * 6 * 9 + 16) + (16 * 16 + 16) + 2 * 16 + (256 * 120 + 120) + (120 * 10 + 10);
    expect(lines(check.stdout)).toContain(`trainable parameters: ${params}`);
    expect(text).toContain(`parameters (${params.toLocaleString('en-US')})`);
    expect(check.stdout).toMatch(/^conv1\/dil3x3\s+conv2d 3x3 pad 2 dil 2\s+\[6, 28, 28\]/m);
    expect(check.stdout).toMatch(/^pool2\/avg\s+avgPool2d 2x2 stride 2\s+\[16, 7, 7\]/m);
  });
});
