/**
 * `nasgraph worker --queue redis://HOST:PORT [--queue-name NAME] [--device NAME] [--concurrency k]`: a trial
 * worker for searches run with `nasgraph search ... --queue URL` (see src/runtime/queue/). It trains the trials it
 * pulls on its own device and runs until Ctrl-C or SIGTERM (it finishes the trials it holds; a second signal quits
 * at once, and BullMQ gives those trials to another worker). One line per trial started and finished goes to
 * stdout.
 *
 * Model files are looked up on this machine (relative paths from the working directory) and must match the
 * controller's by SHA-256. The queue URL may hold a password (`redis://:PASSWORD@HOST:PORT`): it is never printed.
 *
 * Exit codes: 0 stopped by SIGTERM; 130 by Ctrl-C; 1 no device, or Redis unreachable at start; 2 wrong usage.
 *
 * @example
 * $ nasgraph worker --queue redis://10.0.0.5:6379 --device nvidia --concurrency 2
 */
import { hostname } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { acquireDevice } from '../runtime/device.ts';
import { probeRedis } from '../runtime/queue/connection.ts';
import { DEFAULT_QUEUE_NAME, checkQueueName, checkQueueUrl, redactUrl } from '../runtime/queue/protocol.ts';
import { startTrialWorker } from '../runtime/queue/worker.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';

interface WorkerFlags {
  readonly queue: string;
  readonly queueName: string;
  readonly device?: string;
  readonly concurrency: number;
  readonly lockDuration: number;
  readonly stalledInterval: number;
}

const positiveInt =
  (flag: string, min: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };

/**
 * Adds `worker` to the `nasgraph` program.
 *
 * @example
 * addWorkerCommand(program, io, setCode); // in buildProgram (src/cli/main.ts)
 */
export const addWorkerCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('worker')
    .description('train the trials of queued searches (nasgraph search --queue URL) on this machine, until Ctrl-C')
    .requiredOption('--queue <url>', 'the Redis holding the queue: redis://HOST:PORT (redis://:PASSWORD@HOST:PORT with a password)')
    .option('--queue-name <name>', 'the queue (the same as the search\'s --queue-name)', DEFAULT_QUEUE_NAME)
    .option('--device <name>', 'use the adapter whose name contains this text (e.g. llvmpipe, nvidia)')
    .option('--concurrency <k>', 'trials trained at once on the device', positiveInt('--concurrency', 1), 1)
    .option('--lock-duration <ms>', "BullMQ's job lock: a killed worker's trial goes to another worker after about this long", positiveInt('--lock-duration', 1000), 30_000)
    .option('--stalled-interval <ms>', "how often BullMQ looks for trials of killed workers", positiveInt('--stalled-interval', 500), 30_000)
    .action(async (flags: WorkerFlags) => setCode(await workerCommand(flags, io)));

/** Runs `worker` until a signal; returns the exit code. */
export const workerCommand = async (flags: WorkerFlags, io: Io): Promise<number> => {
  const url = checkQueueUrl('--queue', flags.queue);
  const name = checkQueueName(flags.queueName);
  const bad = [url, name].flatMap((r) => (E.isLeft(r) ? [r.left] : []));
  if (bad.length > 0) {
    for (const m of bad) io.err(`error: ${m}\n`);
    return EXIT_USAGE;
  }
  const reach = await probeRedis(flags.queue);
  if (E.isLeft(reach)) {
    io.err(`error: --queue: ${reach.left}\n`);
    return EXIT_ERRORS;
  }
  const gpuR = await acquireDevice(flags.device === undefined ? {} : { adapter: flags.device });
  if (E.isLeft(gpuR)) {
    io.err(`error: ${gpuR.left.message}\n`);
    return EXIT_ERRORS;
  }
  const gpu = gpuR.right;
  const me = `${hostname()}:${process.pid}`;
  io.err(`worker   ${me} on ${gpu.adapterInfo.name}: queue ${flags.queueName} at ${redactUrl(flags.queue)}, ${flags.concurrency} trial${flags.concurrency === 1 ? '' : 's'} at once\n`);
  const w = startTrialWorker({
    url: flags.queue,
    queueName: flags.queueName,
    gpu,
    concurrency: flags.concurrency,
    name: me,
    lockDurationMs: flags.lockDuration,
    stalledIntervalMs: flags.stalledInterval,
    log: (line) => io.out(`${line}\n`),
    warn: (line) => io.err(`warning: ${line}\n`),
  });
  const code = await new Promise<number>((done) => {
    let signals = 0;
    const stop = (code: number) => (): void => {
      signals++;
      if (signals > 1) process.exit(code); // the trials held go to another worker (stalled-job recovery)
      io.err('stopping: finishing the trials in hand (signal again to quit at once)\n');
      void w.close().then(() => done(code));
    };
    process.on('SIGINT', stop(130));
    process.on('SIGTERM', stop(EXIT_OK));
  });
  gpu.destroy();
  return code;
};
