/**
 * `nasgraph latency MODEL`: prints one row per candidate with its input shape and µs per batch, writes the table
 * with -o (decoded against the model's space by readLatencyTable, as the FBNet driver reads it), and caches per
 * adapter: a second run measures nothing. A model without layer choices is a one-line error.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, expect, it } from 'vitest';
import { buildModel, defineModel, identity, layerChoice, conv2d, flatten, linear, searchSpace, sequential } from '../../src/ir/index.ts';
import { readLatencyTable } from '../../src/runtime/oneshot/latency-table.ts';
import { describeGpu } from '../gpu.ts';
import { irImport, lines, nasgraph, scratch } from './run-cli.ts';

const tmp = scratch();
const cache = mkdtempSync(join(tmpdir(), 'nasgraph-latency-'));
afterAll(() => {
  tmp.dispose();
  rmSync(cache, { recursive: true, force: true });
});

const SOURCE = `${irImport('defineModel, sequential, layerChoice, conv2d, identity, flatten, linear')}export default defineModel({ name: 'lat', input: [2, 6, 6], layer: sequential({
  op: layerChoice({ conv3x3: conv2d({ out: 2, kernel: 3, padding: 1 }), skip: identity() }, { key: 'op' }),
  flat: flatten(), fc: linear({ out: 3 }) }) });
`;
const same = buildModel(
  defineModel({ name: 'lat', input: [2, 6, 6], layer: sequential({ op: layerChoice({ conv3x3: conv2d({ out: 2, kernel: 3, padding: 1 }), skip: identity() }, { key: 'op' }), flat: flatten(), fc: linear({ out: 3 }) }) }),
);

await describeGpu('nasgraph latency', () => {
  it('prints and writes the table, then reads it from the per-adapter cache', async () => {
    const model = tmp.file('lat.ts', SOURCE);
    const out = join(cache, 'table.json');
    const r = await nasgraph('latency', model, '--batch', '4', '--repeats', '2', '--cache-dir', cache, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const rows = lines(r.stdout);
    expect(rows[0]).toMatch(/^model: lat {2}adapter: .+ {2}batch: 4$/);
    expect(rows[1]!.split(/\s+/)).toEqual(['KEY', 'CANDIDATE', 'INPUT', 'US_PER_BATCH']);
    const conv = rows.find((l) => l.startsWith('op') && l.includes('conv3x3'))!;
    expect(conv).toMatch(/^op\s+conv3x3\s+\[2, 6, 6\]\s+\d+\.\d$/);
    expect(rows.find((l) => l.includes(' skip '))).toMatch(/^op\s+skip\s+\[2, 6, 6\]\s+\d+\.\d$/);
    expect(lines(r.stderr).filter((l) => l.startsWith('measured '))).toHaveLength(2); // one line per candidate measured
    expect(readdirSync(cache).some((f) => f.startsWith('latency-table-'))).toBe(true);
    if (E.isLeft(same)) throw new Error('model');
    const table = readLatencyTable(out, searchSpace(same.right));
    if (E.isLeft(table)) throw new Error(table.left.join('\n'));
    expect(table.right.layers['op']!.candidates).toEqual(['conv3x3', 'skip']);
    expect(table.right.batch).toBe(4);
    expect(conv.split(/\s+/).at(-1)).toBe(table.right.layers['op']!.latency[0]!.toFixed(1));

    const again = await nasgraph('latency', model, '--batch', '4', '--cache-dir', cache);
    expect(again.code).toBe(0);
    expect(lines(again.stderr).filter((l) => l.startsWith('measured '))).toEqual([]);
    expect(lines(again.stdout).find((l) => l.includes('conv3x3'))).toBe(conv);
  });

  it('refuses a model without layer choices in one line', async () => {
    const model = tmp.file('plain.ts', `${irImport('defineModel, flatten, linear, sequential')}export default defineModel({ name: 'p', input: [1, 2, 2], layer: sequential([flatten(), linear({ out: 2 })]) });\n`);
    const r = await nasgraph('latency', model, '--cache-dir', cache);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([`error: ${model} has no layer choice: there is nothing to time`]);
  });
});
