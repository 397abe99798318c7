// The NAS UI's data layer: decoding run files (tolerant of a file being written), and the view models.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/ir/graph.ts';
import { parseTrialsText } from '../../src/ui/decode.ts';
import { activeSet, graphDecisions, graphView } from '../../src/ui/graph-model.ts';
import { discoverRuns, readRun } from '../../src/ui/load.ts';
import { type RunFiles, LIVE_WINDOW_MS, curvesView, runStatus, runSummary, trialsView, weightsView } from '../../src/ui/view-model.ts';
import fashionSmall from '../../examples/fashion-small.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const classicText = readFileSync(join(fixtures, 'classic', 'trials.jsonl'), 'utf8');
const classicLines = classicText.split('\n').filter((l) => l !== '');
const scratch = mkdtempSync(join(tmpdir(), 'nasgraph-ui-data-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('parseTrialsText', () => {
  it('reads every line of a real log', () => {
    const r = parseTrialsText('trials.jsonl', classicText);
    expect(r.records.map((x) => x.id)).toEqual(classicLines.map((l) => (JSON.parse(l) as { id: number }).id));
    expect(r.problems).toEqual([]);
    expect(r.partialLine).toBe(false);
  });

  it('a log cut at any byte keeps exactly the complete lines and never throws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: classicText.length }), (cut) => {
        const text = classicText.slice(0, cut);
        const r = parseTrialsText('trials.jsonl', text);
        const complete = text.split('\n').slice(0, -1).filter((l) => l !== '').length;
        const tail = text.split('\n').at(-1)!;
        // A cut exactly at a line's end (before its newline) leaves a whole record: it is kept.
        const tailWhole = tail !== '' && tail === classicLines[complete];
        expect(r.records.length).toBe(complete + (tailWhole ? 1 : 0));
        expect(r.partialLine).toBe(tail !== '' && !tailWhole);
        expect(r.problems).toEqual([]);
      }),
    );
  });

  it('a corrupt complete line is a problem naming the line; the others are kept', () => {
    const text = `${classicLines[0]}\n{"id": 9, "status": "bogus"}\nnot json\n${classicLines[1]}\n`;
    const r = parseTrialsText('trials.jsonl', text);
    expect(r.records).toHaveLength(2);
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toMatch(/^trials\.jsonl:2: not a trial record: field 'status'/);
    expect(r.problems[1]).toBe('trials.jsonl:3: not valid JSON');
  });
});

const classicRun = (): RunFiles => readRun({ id: 'classic', dir: join(fixtures, 'classic') });

describe('view models', () => {
  it('trialsView: rows, names from the search space, the running best over arbitrary objectives', () => {
    const base = classicRun();
    fc.assert(
      fc.property(fc.array(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }), { minLength: base.trials.length, maxLength: base.trials.length }), (values) => {
        const trials = base.trials.map((t, i) => ({ ...t, objective: values[i]!, status: values[i] === null ? ('failed' as const) : t.status }));
        const v = trialsView({ ...base, trials, state: undefined });
        expect(v.rows.map((r) => r.id)).toEqual(trials.map((t) => t.id).sort((a, b) => a - b));
        let best = -Infinity;
        const expected = [...trials].sort((a, b) => a.id - b.id).flatMap((t) => (t.objective === null ? [] : [{ id: t.id, value: t.objective, best: (best = Math.max(best, t.objective)) }]));
        expect(v.history).toEqual(expected);
      }),
    );
    const v = trialsView(base);
    expect(v.decisions.find((d) => d.key === 'conv2')?.names).toEqual(['conv3x3', 'conv5x5', 'sepconv3x3']);
    expect(v.rows[0]!.architecture['conv2']).toBe('sepconv3x3');
    expect(v.axes.map((a) => a.key)).toEqual(v.decisions.map((d) => d.key));
  });

  it('runSummary: best value, status by files and time', () => {
    const f = classicRun();
    const s = runSummary(f, f.lastWriteMs + 1000);
    const best = Math.max(...f.trials.filter((t) => t.status !== 'failed').map((t) => t.objective as number));
    expect(s.best).toBe(best);
    expect(s.status).toBe('finished');
    expect(s.kind).toBe('classic');
    expect(s.strategy).toBe('evolution');
    const noResult = { ...f, result: undefined };
    expect(runStatus(noResult, f.lastWriteMs + 1000)).toBe('running');
    expect(runStatus(noResult, f.lastWriteMs + LIVE_WINDOW_MS + 1)).toBe('failed'); // every trial of the budget ran, no result
    expect(runStatus({ ...noResult, trials: f.trials.slice(0, 2) }, f.lastWriteMs + LIVE_WINDOW_MS + 1)).toBe('interrupted');
  });

  it('weightsView and curvesView of a DARTS run: distributions sum to 1 per epoch', () => {
    const f = readRun({ id: 'darts', dir: join(fixtures, 'darts') });
    expect(runSummary(f, Date.now()).kind).toBe('oneshot');
    const w = weightsView(f);
    expect(w.epochs.length).toBe(f.history!.length);
    expect(w.keys.length).toBeGreaterThan(0);
    for (const k of w.keys) for (let e = 0; e < w.epochs.length; e++) expect(k.series.reduce((s, c) => s + (c[e] ?? 0), 0)).toBeCloseTo(1, 6);
    expect(w.metrics['validAccuracy']).toHaveLength(w.epochs.length);
    const c = curvesView(f);
    expect(c.retrain?.epochs).toEqual([1, 2]);
    expect(c.testAccuracy).toBe(f.result?.retrain?.testAccuracy);
  });
});

describe('one-shot view models on arbitrary histories', () => {
  const keys = ['op1', 'op2', 'op3'] as const;
  const entry = (epoch: number) =>
    fc.record({
      epoch: fc.constant(epoch),
      distribution: fc.dictionary(fc.constantFrom(...keys), fc.array(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }), { minLength: 1, maxLength: 6 })),
      arch: fc.dictionary(fc.constantFrom(...keys), fc.array(fc.nat(5), { maxLength: 2 })),
      metrics: fc.record({ validAccuracy: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }) }),
    });
  const histories = fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { maxLength: 8 }).chain((epochs) => fc.tuple(...epochs.map(entry)));

  it('weightsView: epochs sorted, one series per candidate aligned with them, values kept; the summary never throws', () => {
    const base = readRun({ id: 'darts', dir: join(fixtures, 'darts') });
    fc.assert(
      fc.property(histories, (history) => {
        const f: RunFiles = { ...base, history, result: undefined };
        const w = weightsView(f, [{ key: 'op1', kind: 'layer', names: ['a', 'b'] }]);
        const sorted = [...history].sort((x, y) => x.epoch - y.epoch);
        expect(w.epochs).toEqual(sorted.map((h) => h.epoch));
        const present = new Set(history.flatMap((h) => Object.keys(h.distribution)));
        expect(new Set(w.keys.map((k) => k.key))).toEqual(present);
        for (const k of w.keys) {
          const width = Math.max(k.key === 'op1' ? 2 : 0, ...history.map((h) => h.distribution[k.key]?.length ?? 0));
          expect(k.series).toHaveLength(width);
          expect(k.names).toHaveLength(width);
          if (k.key === 'op1') expect(k.names.slice(0, 2)).toEqual(['a', 'b']);
          k.series.forEach((s, c) => expect(s).toEqual(sorted.map((h) => h.distribution[k.key]?.[c] ?? null)));
          expect(k.chosen).toEqual(sorted.map((h) => h.arch[k.key] ?? []));
        }
        const s = runSummary(f, f.lastWriteMs + 1);
        expect(s.kind).toBe('oneshot');
        expect(s.best).toBe(history.at(-1)?.metrics.validAccuracy ?? null);
        expect(curvesView(f).search?.epochs ?? []).toEqual(w.epochs);
      }),
    );
  });
});

describe('graph view model', () => {
  it('every value node, candidate edges into choices, and the active set of an architecture', () => {
    const g = buildModel(fashionSmall);
    if (E.isLeft(g)) throw new Error('model');
    const v = graphView(g.right);
    const conv2 = v.nodes.find((n) => n.choice?.key === 'conv2')!;
    expect(conv2.choice?.names).toEqual(['conv3x3', 'conv5x5', 'sepconv3x3']);
    const cand = v.edges.filter((e) => e.to === conv2.id);
    expect(cand.map((e) => e.choice?.name)).toEqual(['conv3x3', 'conv5x5', 'sepconv3x3']);
    expect(v.nodes.some((n) => n.kind === 'param')).toBe(false);
    const conv = v.nodes.find((n) => n.kind === 'conv2d' && n.name.includes('conv1/conv3x3'))!;
    expect(conv.params).toBe(8 * 1 * 3 * 3 + 8);
    expect(conv.macs).toBe(8 * 28 * 28 * 9);
    const decisions = graphDecisions(g.right);
    const arch = Object.fromEntries(decisions.map((d) => [d.key, [0]]));
    const act = activeSet(v, arch);
    expect(act.edges.has(cand[0]!.id)).toBe(true);
    expect(act.edges.has(cand[1]!.id)).toBe(false);
    expect(act.nodes.has(cand[2]!.from)).toBe(false);
    expect(act.nodes.size).toBeLessThan(v.nodes.length);
  });
});

describe('discoverRuns', () => {
  it('finds run directories under a root and lists a non-experiment with its reason', () => {
    const empty = join(scratch, 'empty');
    mkdirSync(join(empty, 'sub'), { recursive: true });
    writeFileSync(join(empty, 'sub', 'notes.txt'), 'x');
    const r = discoverRuns([fixtures, empty, join(scratch, 'missing')]);
    expect(r.runs.map((x) => x.id).sort()).toEqual(['fixtures/classic', 'fixtures/darts']);
    expect(r.others.map((o) => o.reason)).toEqual([expect.stringMatching(/^not an experiment: no search\.json/), 'no such directory']);
  });

  it('a run file that does not decode is a problem, not a crash', () => {
    const dir = join(scratch, 'bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'search.json'), '{"strategy": 3}');
    writeFileSync(join(dir, 'trials.jsonl'), `${classicLines[0]}\n{"id":1,"sta`);
    const f = readRun({ id: 'bad', dir });
    expect(f.settings).toBeUndefined();
    expect(f.problems).toEqual([expect.stringMatching(/^search\.json: field 'strategy' is invalid/)]);
    expect(f.trials).toHaveLength(1);
  });
});
