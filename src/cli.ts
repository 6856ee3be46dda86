#!/usr/bin/env node
// The `ringcast` command: demo, pub, sub, stat, bench.
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { BRIDGE_USAGE, BridgeUsageError, bridgeCommand, bridgeStat } from './bridge/cli.js';
import { runDemo, runDemoSubscriber } from './demo.js';
import { inspectBus } from './inspect.js';
import { watchBus } from './stat-watch.js';
import { Publisher } from './publisher.js';
import { Subscriber } from './subscriber.js';
import { RingcastError } from './errors.js';

const USAGE = `usage:
  ringcast demo [--subscribers N] [--messages M] [--size BYTES] [--capacity BYTES] [--json]
      a publisher and N subscriber processes; checks every message arrives once, in order, intact
  ringcast pub <socket> [--subscribers N] [--capacity BYTES] [--policy block|drop]
      stdin -> bus (waits for N subscribers, default 1, before reading stdin)
  ringcast sub <socket>
      bus -> stdout, byte-exact
  ringcast stat <socket> [--json]
      the descriptor page: subscribers, state, lag
  ringcast stat <socket> --watch [--interval MS] [--count N]
      the same as a live table with rates, redrawn every MS (default 1000) until Ctrl-C or N frames
  ringcast bench [--suite quick|full] [--json FILE]
      ringcast against Node sockets, zeromq, NATS and the C limits (from a source checkout)
${BRIDGE_USAGE}`;

class UsageError extends Error {}

function integer(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      subscribers: { type: 'string' },
      messages: { type: 'string' },
      size: { type: 'string' },
      capacity: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const options = {
    subscribers: integer('subscribers', values.subscribers, 4, 1),
    messages: integer('messages', values.messages, 200_000, 1),
    size: integer('size', values.size, 64, 8),
    capacity: integer('capacity', values.capacity, 4 * 1024 * 1024, 1),
    batch: 256,
  };
  if (options.subscribers > 64) throw new UsageError('--subscribers must be at most 64');
  const log = values.json ? (line: string) => process.stderr.write(`${line}\n`) : (line: string) => console.log(line);
  const result = await runDemo(options, log);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    console.log(
      `${result.messages} messages × ${result.size} B to ${result.subscribers.length} subscriber processes in ${result.seconds.toFixed(3)} s: ` +
        `${Math.round(result.messagesPerSecond).toLocaleString('en')} msg/s, ${result.megabytesPerSecond.toFixed(1)} MB/s per subscriber`,
    );
    console.table(result.subscribers.map(({ received, lost, inOrder, checksumOk, error }) => ({ received, lost, inOrder, checksumOk, error: error ?? '' })));
    console.log(result.ok ? 'ok: every subscriber received every message once, in order, intact' : 'FAILED');
  }
  return result.ok ? 0 : 1;
}

async function pub(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { subscribers: { type: 'string' }, capacity: { type: 'string' }, policy: { type: 'string' } },
  });
  const path = positionals[0];
  if (!path) throw new UsageError('pub needs a socket path');
  const wanted = integer('subscribers', values.subscribers, 1, 0);
  const publisher = await Publisher.listen({
    path,
    capacity: integer('capacity', values.capacity, 4 * 1024 * 1024, 1),
    policy: values.policy as 'block' | 'drop' | undefined,
  });
  const stop = (): void => void publisher.close().then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (publisher.subscriberCount < wanted) await once(publisher, 'subscribe');
  for await (const chunk of process.stdin) await publisher.publish(chunk as Buffer);
  await publisher.close();
  return 0;
}

async function sub(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const path = positionals[0];
  if (!path) throw new UsageError('sub needs a socket path');
  const subscriber = await Subscriber.connect({ path });
  try {
    for await (const message of subscriber) {
      if (!process.stdout.write(message)) await once(process.stdout, 'drain');
    }
  } finally {
    await subscriber.close();
  }
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  return 0;
}

async function stat(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, watch: { type: 'boolean' }, interval: { type: 'string' }, count: { type: 'string' } },
  });
  const path = positionals[0];
  if (!path) throw new UsageError('stat needs a socket path');
  if (/^https?:\/\//.test(path)) return bridgeStat(path, values.json === true);
  if (values.watch) {
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    const frames = values.count === undefined ? undefined : integer('count', values.count, 1, 1);
    await watchBus(path, { intervalMs: integer('interval', values.interval, 1000, 100), frames, signal: stop.signal });
    return 0;
  }
  const snapshot = await inspectBus(path);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(snapshot)}\n`);
    return 0;
  }
  console.log(
    `bus ${snapshot.path}: publisher pid ${snapshot.publisherPid} (${snapshot.publisherState}), policy ${snapshot.policy}, ` +
      `capacity ${snapshot.capacity} B, head ${snapshot.head}, ${snapshot.messages} messages`,
  );
  if (snapshot.subscribers.length === 0) console.log('no subscribers');
  else
    console.table(
      snapshot.subscribers.map((s) => ({
        slot: s.slot,
        state: s.state,
        reason: s.reason ?? '',
        pid: s.pid,
        uid: s.uid,
        ack: s.ack,
        'lag bytes': s.lagBytes,
        evictions: s.evictions,
        'lost bytes': s.lostBytes,
        'lost messages': s.lostMessages,
      })),
    );
  return 0;
}

/**
 * The harness lives in bench/ next to its peers (zeromq, tinybench, ... are
 * dev dependencies), found from the package root: a source checkout has it,
 * an installed package may not.
 */
async function bench(args: string[]): Promise<number> {
  const harness = new URL('../bench/harness.mjs', import.meta.url);
  if (!existsSync(harness)) {
    console.error('ringcast: the benchmark harness (bench/) comes with a source checkout of ringcast and its dev dependencies');
    return 1;
  }
  const { main: runBench } = (await import(harness.href)) as { main: (argv: string[]) => Promise<number> };
  return runBench(args);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo':
      return demo(rest);
    case 'pub':
      return pub(rest);
    case 'sub':
      return sub(rest);
    case 'stat':
      return stat(rest);
    case 'bridge':
      return bridgeCommand(rest);
    case 'bench':
      return bench(rest);
    case 'demo-subscriber': {
      const result = await runDemoSubscriber(rest[0]!, Number(rest[1]));
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return result.error ? 1 : 0;
    }
    case undefined:
    case '-h':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof BridgeUsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`ringcast: ${(error as Error).message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      const code = error instanceof RingcastError ? error.code : ((error as { code?: string }).code ?? 'ERROR');
      console.error(`ringcast: ${code}: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  },
);
