// A trial worker as a child process for the queue's fault tests: `startTrialWorker` (the code `nasgraph worker`
// runs) with faults injected through its `beforeTrial` hook. Run as
//   node --import tsx test/support/queue-worker.ts '{"url":…,"queueName":…,"hold":[1],"gate":"/tmp/…","throwOn":[2]}'
// hold: trials that wait, after printing "trial N started", until the file `gate` exists (or forever without one:
// the test SIGKILLs the process); holdAfterResult: the same, after the trial's result was sent and before its job
// completes ("holding trial N after its result"); throwOn: trials whose training throws `injected fault in trial
// N`; concurrency: trials at once (default 1). Lines go to
// stdout as `nasgraph worker` prints them; SIGTERM closes the worker and exits 0.
import { existsSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { acquireDevice } from '../../src/runtime/device.ts';
import { startTrialWorker } from '../../src/runtime/queue/worker.ts';

interface Args {
  readonly url: string;
  readonly queueName: string;
  readonly name: string;
  readonly cwd?: string;
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  readonly refusalDelayMs?: number;
  readonly hold?: readonly number[];
  readonly gate?: string;
  readonly throwOn?: readonly number[];
  readonly holdAfterResult?: readonly number[];
  readonly concurrency?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
/** Resolves once the gate file exists (never without one). */
const gateOpen = async (): Promise<void> => {
  while (args.gate === undefined || !existsSync(args.gate)) await new Promise((d) => setTimeout(d, 100));
};
const gpu = await acquireDevice();
if (E.isLeft(gpu)) {
  process.stderr.write(`error: ${gpu.left.message}\n`);
  process.exit(1);
}
const w = startTrialWorker({
  url: args.url,
  queueName: args.queueName,
  gpu: gpu.right,
  concurrency: args.concurrency ?? 1,
  name: args.name,
  ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
  ...(args.lockDurationMs === undefined ? {} : { lockDurationMs: args.lockDurationMs }),
  ...(args.stalledIntervalMs === undefined ? {} : { stalledIntervalMs: args.stalledIntervalMs }),
  ...(args.refusalDelayMs === undefined ? {} : { refusalDelayMs: args.refusalDelayMs }),
  log: (line) => process.stdout.write(`${line}\n`),
  warn: (line) => process.stderr.write(`warning: ${line}\n`),
  beforeTrial: async (job) => {
    if (args.throwOn?.includes(job.id) === true) throw new Error(`injected fault in trial ${job.id}`);
    if (args.hold?.includes(job.id) === true) {
      process.stdout.write(`holding trial ${job.id}\n`);
      await gateOpen();
    }
  },
  afterResult: async (job) => {
    if (args.holdAfterResult?.includes(job.id) === true) {
      process.stdout.write(`holding trial ${job.id} after its result\n`);
      await gateOpen();
    }
  },
});
process.stdout.write(`worker ${args.name} ready\n`);
process.on('SIGTERM', () => {
  void w.close(true).then(() => {
    gpu.right.destroy();
    process.exit(0);
  });
});
