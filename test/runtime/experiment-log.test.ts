/**
 * The experiment log files: trial records round-trip through a line (non-finite numbers included), a truncated
 * last line is tolerated and reported, every corrupt line is an error naming the file and line, and JSON files
 * are replaced atomically and decoded with errors naming the file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type TrialRecord,
  appendTrialRecord,
  experimentCodec,
  formatTrialRecord,
  parseJsonFile,
  parseTrialLog,
  readJsonFile,
  readTrialLog,
  savedStateCodec,
  truncateFile,
  writeJsonAtomic,
} from '../../src/runtime/experiment-log.ts';

const record = (id: number, over: Partial<TrialRecord> = {}): TrialRecord => ({
  id,
  status: 'succeeded',
  objective: 0.5 + id / 100,
  architecture: { a: 'op1', c: ['in0', 'in2'] },
  arch: { a: [1], c: [0, 2] },
  metrics: { loss: 0.25 },
  params: 1234,
  flops: null,
  wallTimeMs: 12.5,
  error: null,
  startedAt: '2025-01-01T00:00:00.000Z',
  finishedAt: '2025-01-01T00:00:01.000Z',
  curve: [{ epoch: 0, metrics: { objective: 0.3 } }],
  ...over,
});

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasgraph-log-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('trials.jsonl', () => {
  it('round-trips records, non-finite numbers included, one per line', () => {
    const rs = [record(0), record(1, { status: 'failed', objective: null, error: 'boom', metrics: { loss: Number.NaN, grad: Number.POSITIVE_INFINITY } })];
    const text = rs.map(formatTrialRecord).join('');
    expect(text.split('\n')).toHaveLength(3); // two lines and the empty text after the last newline
    expect(text).toContain('"loss":"NaN"');
    const parsed = parseTrialLog('t.jsonl', text);
    expect(parsed).toEqual(E.right({ records: rs, validBytes: Buffer.byteLength(text), truncatedLine: null, duplicates: [] }));
  });

  it('drops a truncated last line and says how many bytes are valid', () => {
    const good = formatTrialRecord(record(0)) + formatTrialRecord(record(1));
    const cut = formatTrialRecord(record(2)).slice(0, 40);
    const parsed = parseTrialLog('t.jsonl', good + cut);
    expect(E.isRight(parsed)).toBe(true);
    if (E.isRight(parsed)) {
      expect(parsed.right.records.map((r) => r.id)).toEqual([0, 1]);
      expect(parsed.right.truncatedLine).toBe(3);
      expect(parsed.right.validBytes).toBe(Buffer.byteLength(good));
    }
  });

  it('accepts a complete last record that only lacks its newline', () => {
    const text = formatTrialRecord(record(0)) + formatTrialRecord(record(1)).trimEnd();
    const parsed = parseTrialLog('t.jsonl', text);
    expect(E.isRight(parsed) && parsed.right.records.length).toBe(2);
    expect(E.isRight(parsed) && parsed.right.truncatedLine).toBe(null);
  });

  it('reports every corrupt line with the file and line number', () => {
    const lines = [
      formatTrialRecord(record(0)),
      '{"id": 1, "status": "succ\n', // bad JSON, not the last line
      formatTrialRecord(record(2)).replace('"status":"succeeded"', '"status":"done"'),
      formatTrialRecord(record(4)),
    ];
    const parsed = parseTrialLog('runs/x/trials.jsonl', lines.join(''));
    expect(E.isLeft(parsed)).toBe(true);
    if (E.isLeft(parsed)) {
      const messages = parsed.left.map((e) => e.message);
      expect(messages).toHaveLength(2);
      expect(messages[0]).toMatch(/^runs\/x\/trials\.jsonl:2: not valid JSON/);
      expect(messages[1]).toMatch(/^runs\/x\/trials\.jsonl:3: not a valid trial record: field 'status'/);
    }
  });

  it('an id logged twice keeps its first record and lists the later line as a duplicate (not an error)', () => {
    const first = { ...record(0), objective: 0.25 };
    const second = { ...record(0), objective: 0.75 };
    const text = [formatTrialRecord(first), formatTrialRecord(record(1)), formatTrialRecord(second), formatTrialRecord(record(2))].join('');
    const parsed = parseTrialLog('t.jsonl', text);
    expect(E.isRight(parsed)).toBe(true);
    if (E.isRight(parsed)) {
      expect(parsed.right.records.map((r) => [r.id, r.objective])).toEqual([[0, 0.25], [1, record(1).objective], [2, record(2).objective]]);
      expect(parsed.right.duplicates).toEqual([{ id: 0, line: 3, first: 1 }]);
      expect(parsed.right.validBytes).toBe(Buffer.byteLength(text));
    }
  });

  it('appends, reads back, truncates; a missing file reads as undefined', () => {
    const file = path.join(dir, 'trials.jsonl');
    expect(readTrialLog(file)).toEqual(E.right(undefined));
    expect(E.isRight(appendTrialRecord(file, record(0)))).toBe(true);
    expect(E.isRight(appendTrialRecord(file, record(1)))).toBe(true);
    fs.appendFileSync(file, '{"id":2,"sta');
    const log = readTrialLog(file);
    expect(E.isRight(log) && log.right?.records.map((r) => r.id)).toEqual([0, 1]);
    if (E.isRight(log) && log.right !== undefined) {
      expect(E.isRight(truncateFile(file, log.right.validBytes))).toBe(true);
      appendTrialRecord(file, record(2));
      const again = readTrialLog(file);
      expect(E.isRight(again) && again.right?.records.map((r) => r.id)).toEqual([0, 1, 2]);
      expect(E.isRight(again) && again.right?.truncatedLine).toBe(null);
    }
  });
});

describe('JSON files', () => {
  const state = { version: 1, strategy: { seen: [] }, rng: { s: [1, 2, 3, 4] }, nextId: 3, pending: [{ id: 2, arch: { a: [0] } }], exhausted: false };

  it('writes atomically (no temp file left) and reads back', () => {
    const file = path.join(dir, 'state.json');
    expect(E.isRight(writeJsonAtomic(file, state))).toBe(true);
    expect(E.isRight(writeJsonAtomic(file, { ...state, nextId: 4 }, 0))).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
    expect(fs.readFileSync(file, 'utf8').split('\n')).toHaveLength(2); // compact: one line and its newline
    expect(readJsonFile(savedStateCodec, file, 'search state')).toEqual(E.right({ ...state, nextId: 4 }));
    expect(readJsonFile(savedStateCodec, path.join(dir, 'none.json'), 'search state')).toEqual(E.right(undefined));
  });

  it('names the file and the field of a corrupt file', () => {
    const bad = parseJsonFile(savedStateCodec, 'x/state.json', JSON.stringify({ ...state, nextId: 'three' }), 'search state');
    expect(E.isLeft(bad) && bad.left[0]!.message).toMatch(/^x\/state\.json: not a valid search state: field 'nextId' is invalid \(got "three"\)/);
    const notJson = parseJsonFile(experimentCodec, 'x/experiment.json', '{"version": 1,', 'experiment description');
    expect(E.isLeft(notJson) && notJson.left[0]!.message).toMatch(/^x\/experiment\.json: not valid JSON/);
  });

  it('reports an unreadable path as an I/O error naming it', () => {
    const r = readJsonFile(savedStateCodec, dir, 'search state'); // a directory
    expect(E.isLeft(r) && r.left[0]).toMatchObject({ tag: 'LogIo', file: dir });
  });
});
