// The queue's wire format and its checks: URLs printed without their password, flags refused with one line,
// payloads decoded with io-ts (a bad one is named, never trusted), and the data hash seeing any change.
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { syntheticTrainTest } from '../../../src/runtime/data/index.ts';
import {
  checkQueueName,
  checkQueueUrl,
  dataHash,
  decodeMessage,
  redactUrl,
  resultMessageCodec,
  trialJobCodec,
  trialJobId,
} from '../../../src/runtime/queue/protocol.ts';

describe('redactUrl', () => {
  it('never keeps the password', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z]{8,24}$/), fc.integer({ min: 1, max: 65535 }), (pw, port) => {
        const shown = redactUrl(`redis://:${pw}@cache.example:${port}/0`);
        expect(shown).not.toContain(pw);
        expect(shown).toBe(`redis://:***@cache.example:${port}/0`);
      }),
    );
  });
  it('keeps a URL without a password as it is', () => {
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
  it('hides a user name with its password', () => {
    expect(redactUrl('rediss://alice:pw123456@h:1')).toBe('rediss://***:***@h:1');
  });
});

describe('flag checks', () => {
  it('accepts redis:// and rediss:// URLs with a host', () => {
    expect(checkQueueUrl('--queue', 'redis://h:1')).toEqual(E.right('redis://h:1'));
    expect(checkQueueUrl('--queue', 'rediss://:pw@h:1')).toEqual(E.right('rediss://:pw@h:1'));
  });
  it('refuses other URLs in one line that names the flag and hides the password', () => {
    const r = checkQueueUrl('--queue', 'http://:topsecret@h:1');
    expect(E.isLeft(r) && r.left).toBe('--queue http://:***@h:1: not a redis:// or rediss:// URL');
    const n = checkQueueUrl('--queue', 'localhost:6379');
    expect(E.isLeft(n) && n.left).toMatch(/^--queue (must be a URL|localhost:6379: not a redis)/);
  });
  it('refuses queue names that cannot name keys and job ids', () => {
    expect(E.isRight(checkQueueName('exp_1.a-b'))).toBe(true);
    for (const bad of ['', 'a:b', 'a b', 'x'.repeat(65)]) expect(E.isLeft(checkQueueName(bad))).toBe(true);
  });
  it('makes job ids BullMQ accepts (no colon)', () => {
    expect(trialJobId('ab12', 7)).toBe('ab12-7');
  });
});

describe('decoding', () => {
  const job = {
    version: 1,
    key: 'k',
    id: 3,
    arch: { conv: [1] },
    model: 'examples/fashion-small.ts',
    modelHash: 'a'.repeat(64),
    data: { data: 'synthetic', dataDir: null, trainSize: 64, validSize: 32, testSize: 32, retrainSize: null, seed: 0 },
    dataHash: 'b'.repeat(64),
    training: { epochs: 1, batch: 16, lr: 0.003, seed: 0 },
    results: 'q-results-k',
  };
  it('decodes a trial job and refuses a damaged one, naming the field', () => {
    expect(E.isRight(decodeMessage(trialJobCodec, 'trial job', job))).toBe(true);
    const r = decodeMessage(trialJobCodec, 'trial job', { ...job, modelHash: 5 });
    expect(E.isLeft(r) && r.left).toBe('not a valid trial job (at modelHash)');
    expect(E.isLeft(decodeMessage(trialJobCodec, 'trial job', { ...job, data: { ...job.data, data: 'cifar' } }))).toBe(true);
  });
  it('decodes results of both kinds and refuses an outcome without its error', () => {
    const ok = { kind: 'final', key: 'k', id: 1, worker: 'w', curve: [], outcome: { ok: true, objective: 0.5, metrics: {}, params: null, flops: 3 } };
    expect(E.isRight(decodeMessage(resultMessageCodec, 'result', ok))).toBe(true);
    expect(E.isRight(decodeMessage(resultMessageCodec, 'result', { kind: 'epoch', key: 'k', id: 1, epoch: 1, metrics: { objective: 0.1 }, worker: 'w' }))).toBe(true);
    expect(E.isLeft(decodeMessage(resultMessageCodec, 'result', { ...ok, outcome: { ok: false } }))).toBe(true);
  });
});

describe('dataHash', () => {
  it('changes when any label or pixel of the train or valid split changes', () => {
    const { train, test } = syntheticTrainTest({ n: 16, nTest: 8, shape: [1, 3, 3], classes: 3, seed: 1 });
    const h = dataHash({ train, valid: test });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 15 }), fc.boolean(), (i, label) => {
        const images = train.images.slice();
        const labels = train.labels.slice();
        if (label) labels[i] = (labels[i]! + 1) % 3;
        else images[i * 9] = images[i * 9]! + 0.5;
        expect(dataHash({ train: { ...train, images, labels }, valid: test })).not.toBe(h);
      }),
      { numRuns: 20 },
    );
    expect(dataHash({ train, valid: test })).toBe(h);
  });
});
