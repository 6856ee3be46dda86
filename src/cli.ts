#!/usr/bin/env node
// The `ringcast` command: demo, pub, sub, stat, bench, bridge.
// Exit status, the same for every command: 0 done, 1 failed, 2 usage error,
// 128+N ended by signal N.
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { BRIDGE_USAGE, bridgeCommand, bridgeStat } from './bridge/cli.js';
import { CommandLineError, guestsFor, joinNegativeValues, parseGuests, parseReceivers } from './command-line.js';
import { DEMO_MAX_SIZE, runDemo, runDemoSubscriber } from './demo.js';
import { inspectBus } from './inspect.js';
import { watchBus } from './stat-watch.js';
import { Publisher, type PublisherOptions } from './publisher.js';
import { Subscriber } from './subscriber.js';
import { RingcastError, quoteInput } from './errors.js';

/** A command's bus argument: an address as docs/addresses.md writes it (parsed where it is used). */
const BUS_ARGUMENT = 'a bus address: unix:PATH or a bare socket path, ivshmem:RING?..., xen:DOMID/BUS (docs/addresses.md)';

/** Each command's usage: printed by `<command> --help` (exit 0) and after a usage error in it (exit 2). */
const USAGES = {
  demo: `  ringcast demo [--subscribers N] [--messages M] [--size BYTES] [--capacity BYTES] [--json]
      a publisher and N subscriber processes; checks every message arrives once, in order, intact
      (--size at most ${DEMO_MAX_SIZE} B; --size × --messages is streamed, not held in memory)`,
  pub: `  ringcast pub <bus> [--subscribers N] [--capacity BYTES] [--policy block|drop]
                 [--evict-after-ms MS] [--max-lag-bytes BYTES] [--heartbeat-timeout-ms MS]
                 [--max-subscribers N] [--max-per-uid N] [--allow-uid UID]... [--allow-gid GID]...
                 [--guest NAME=ACKFILE]... [--receivers DOMID[:sub|:pub],...]
      stdin -> bus (waits for N subscribers, default 1, before reading stdin), each chunk read
      from stdin one message; an option not given takes the library's default (docs/eviction.md,
      docs/security.md). Interrupted (SIGINT, SIGTERM) before stdin ended, it aborts the bus:
      subscribers fail instead of ending cleanly.
      An ivshmem:RING?server=SOCKET bus (KVM guests; &unix=PATH: local processes too, a mixed bus)
      needs --guest: one per guest, in slot order, with the ack file its QEMU maps (docs/vm.md).
      A xen:DOMID/BUS bus (DOMID: this domain) needs --receivers: one slot per entry, in order; :pub
      when this domain grants the slot's ack page (default :sub, the receiver grants it; docs/xen.md)`,
  sub: `  ringcast sub <bus>
      bus -> stdout, byte-exact; exits 0 when the publisher closed after its whole input, 1 when the
      stream was cut short (publisher aborted or died, eviction), quietly when stdout is closed`,
  stat: `  ringcast stat <bus> [--json]
      the descriptor page: subscribers (local processes, VM guests, Xen domains), state, lag; a unix: bus
      or a mixed one through its socket, an ivshmem: bus from its ring file, a xen: bus from a receiver
      domain (not from the publisher's own: docs/xen.md)
  ringcast stat <bus> --watch [--interval MS] [--count N] [--json]
      the same as a live table with rates, redrawn every MS (default 1000) until Ctrl-C or N frames;
      with --json one JSON line per frame`,
  bench: `  ringcast bench [--suite quick|full] [--json FILE]
      ringcast against Node sockets, zeromq, NATS and the C limits (from a source checkout)`,
  bridge: BRIDGE_USAGE,
} as const;
type Command = keyof typeof USAGES;

const USAGE = `usage: ringcast <command> [options]   (ringcast <command> --help, ringcast --version)
${Object.values(USAGES).join('\n')}
exit status: 0 done, 1 failed (the message names the error code), 2 usage error, 128+N killed by signal N`;

/** A wrong command line: its message, then the usage of `command` (or of all), exit status 2. */
class UsageError extends Error {
  constructor(
    readonly command: Command | null,
    message: string,
  ) {
    super(message);
  }
}

/** `--help` on a command: its usage on stdout, exit status 0. */
class HelpRequested extends Error {
  constructor(readonly command: Command | null) {
    super('help');
  }
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
type Values = Record<string, string | boolean | string[] | undefined>;

/**
 * parseArgs with one convention for every command: `--help`/`-h` anywhere
 * asks for the usage, every parse error is a usage error, and a negative
 * number after an option is that option's value (`--messages -1` reads as
 * `--messages=-1`, so both spellings get the same clear message).
 */
function parse(command: Command, args: string[], options: OptionSpec, positionals: number): { values: Values; positionals: string[] } {
  if (args.includes('--help') || args.includes('-h')) throw new HelpRequested(command);
  const joined = joinNegativeValues(args, options);
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: joined, options, allowPositionals: positionals > 0, strict: true }) as { values: Values; positionals: string[] };
  } catch (error) {
    throw new UsageError(command, (error as Error).message);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(command, `unexpected argument ${quoteInput(parsed.positionals[positionals])}`);
  return parsed;
}

function string(values: Values, name: string): string | undefined {
  return values[name] as string | undefined;
}

function integer(command: Command, name: string, value: string | undefined, fallback: number, min: number): number;
function integer(command: Command, name: string, value: string | undefined, fallback: undefined, min: number): number | undefined;
function integer(command: Command, name: string, value: string | undefined, fallback: number | undefined, min: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^[-+]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(command, `--${name} must be an integer >= ${min}, got ${quoteInput(value)}`);
  }
  return n;
}

function ids(command: Command, name: string, values: string[] | undefined): number[] | undefined {
  return values?.map((value) => integer(command, name, value, undefined, 0)!);
}

async function demo(args: string[]): Promise<number> {
  const { values } = parse(
    'demo',
    args,
    { subscribers: { type: 'string' }, messages: { type: 'string' }, size: { type: 'string' }, capacity: { type: 'string' }, json: { type: 'boolean' } },
    0,
  );
  const options = {
    subscribers: integer('demo', 'subscribers', string(values, 'subscribers'), 4, 1),
    messages: integer('demo', 'messages', string(values, 'messages'), 200_000, 1),
    size: integer('demo', 'size', string(values, 'size'), 64, 8),
    capacity: integer('demo', 'capacity', string(values, 'capacity'), undefined, 1),
  };
  if (options.subscribers > 64) throw new UsageError('demo', '--subscribers must be at most 64');
  if (options.size > DEMO_MAX_SIZE) throw new UsageError('demo', `--size must be at most ${DEMO_MAX_SIZE}`);
  const log = values.json ? (line: string) => process.stderr.write(`${line}\n`) : (line: string) => console.log(line);
  const interrupted = onTermination();
  let result;
  try {
    result = await runDemo({ ...options, signal: interrupted.signal }, log);
  } catch (error) {
    if (interrupted.signal.aborted) return interrupted.exitCode();
    throw error;
  }
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

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/** SIGINT/SIGTERM abort `signal`; `exitCode()` is then 128 + the signal's number, the shell's convention. */
function onTermination(): { signal: AbortSignal; exitCode(): number } {
  const controller = new AbortController();
  let received: keyof typeof SIGNAL_NUMBERS = 'SIGINT';
  for (const name of Object.keys(SIGNAL_NUMBERS) as Array<keyof typeof SIGNAL_NUMBERS>) {
    process.once(name, () => {
      received = name;
      controller.abort(new RingcastError('ERR_RINGCAST_ABORTED', `interrupted by ${name}`));
    });
  }
  return { signal: controller.signal, exitCode: () => 128 + SIGNAL_NUMBERS[received] };
}

async function pub(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    'pub',
    args,
    {
      subscribers: { type: 'string' },
      capacity: { type: 'string' },
      policy: { type: 'string' },
      'evict-after-ms': { type: 'string' },
      'max-lag-bytes': { type: 'string' },
      'heartbeat-timeout-ms': { type: 'string' },
      'max-subscribers': { type: 'string' },
      'max-per-uid': { type: 'string' },
      'allow-uid': { type: 'string', multiple: true },
      'allow-gid': { type: 'string', multiple: true },
      receivers: { type: 'string' },
      guest: { type: 'string', multiple: true },
    },
    1,
  );
  const address = busAddress('pub', positionals[0]);
  const receivers = parseReceivers(string(values, 'receivers'));
  const policy = string(values, 'policy');
  if (policy !== undefined && policy !== 'block' && policy !== 'drop') throw new UsageError('pub', `--policy must be block or drop, got ${quoteInput(policy)}`);
  const wanted = integer('pub', 'subscribers', string(values, 'subscribers'), 1, 0);
  const uids = ids('pub', 'allow-uid', values['allow-uid'] as string[] | undefined);
  const gids = ids('pub', 'allow-gid', values['allow-gid'] as string[] | undefined);
  // Only what was given: every option left out keeps the library's default.
  const options = {
    address,
    capacity: integer('pub', 'capacity', string(values, 'capacity'), undefined, 1),
    policy,
    evictAfterMs: integer('pub', 'evict-after-ms', string(values, 'evict-after-ms'), undefined, 0),
    maxLagBytes: integer('pub', 'max-lag-bytes', string(values, 'max-lag-bytes'), undefined, 0),
    heartbeatTimeoutMs: integer('pub', 'heartbeat-timeout-ms', string(values, 'heartbeat-timeout-ms'), undefined, 0),
    maxSubscribers: integer('pub', 'max-subscribers', string(values, 'max-subscribers'), undefined, 0),
    maxPerUid: integer('pub', 'max-per-uid', string(values, 'max-per-uid'), undefined, 0),
    allow: uids || gids ? { ...(uids && { uids }), ...(gids && { gids }) } : undefined,
    xen: receivers && { receivers },
    ...guestsFor(address, 'pub', parseGuests(values.guest as string[] | undefined)),
  };
  for (const key of Object.keys(options) as Array<keyof typeof options>) if (options[key] === undefined) delete options[key];
  // Before listen(): a signal right after the socket is bound must still
  // exit through the hook that removes it, not by the default action.
  const interrupted = onTermination();
  let listening: Publisher | null = null;
  interrupted.signal.addEventListener('abort', () => {
    // Stopped before its input ended: subscribers must not take what they got for all of it.
    // abort() marks the ring at once; exiting closes the rest.
    void listening?.abort();
    process.exit(interrupted.exitCode());
  });
  const publisher = await Publisher.listen(options as PublisherOptions);
  listening = publisher;
  try {
    await publisher.waitForSubscribers(wanted).catch((error: unknown) => {
      // Name the flag the user gave, not the library's argument.
      if ((error as { code?: string }).code === 'ERR_RINGCAST_INVALID_OPTION') throw new UsageError('pub', `--subscribers ${wanted}: ${(error as Error).message.replace(/^option count: expected /, 'expected ')}`);
      throw error;
    });
    for await (const chunk of process.stdin) await publisher.publish(chunk as Buffer);
  } catch (error) {
    await publisher.abort();
    throw error;
  }
  await publisher.close();
  return 0;
}

async function sub(args: string[]): Promise<number> {
  const { positionals } = parse('sub', args, {}, 1);
  const address = busAddress('sub', positionals[0]);
  const subscriber = await Subscriber.connect({ address });
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
  const { values, positionals } = parse(
    'stat',
    args,
    { json: { type: 'boolean' }, watch: { type: 'boolean' }, interval: { type: 'string' }, count: { type: 'string' } },
    1,
  );
  const target = positionals[0];
  if (!target) throw new UsageError('stat', 'stat needs a bus address or a bridge URL');
  const json = values.json === true;
  if (!values.watch) {
    for (const flag of ['interval', 'count'] as const) if (values[flag] !== undefined) throw new UsageError('stat', `--${flag} needs --watch`);
  }
  if (/^https?:\/\//.test(target)) {
    if (values.watch) throw new UsageError('stat', '--watch is for a bus socket, not a bridge URL');
    return bridgeStat(target, json);
  }
  const address = busAddress('stat', target);
  if (values.watch) {
    const interrupted = onTermination();
    const frames = integer('stat', 'count', string(values, 'count'), undefined, 1);
    const intervalMs = integer('stat', 'interval', string(values, 'interval'), 1000, 100);
    await watchBus(address, { intervalMs, frames, json, signal: interrupted.signal });
    return 0;
  }
  const snapshot = await inspectBus(address);
  if (json) {
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
        kind: s.domid === undefined ? s.kind : `domain ${s.domid ?? '?'}`,
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
    if (args.includes('--help') || args.includes('-h')) throw new HelpRequested('bench');
    console.error('ringcast: the benchmark harness (bench/) comes with a source checkout of ringcast and its dev dependencies');
    return 1;
  }
  const { main: runBench } = (await import(harness.href)) as { main: (argv: string[]) => Promise<number> };
  return runBench(args);
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/**
 * Runs `command`. An option the library refuses (ERR_RINGCAST_INVALID_OPTION:
 * `pub --capacity 1000`, `bridge --policy fast`), a bad address, and what a
 * parser shared between commands refuses (`--guest g`) came from the command
 * line: a usage error of that command, like any other.
 */
async function run(command: string | undefined, rest: string[]): Promise<number> {
  try {
    return await dispatch(command, rest);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const fromCommandLine = error instanceof CommandLineError || code === 'ERR_RINGCAST_INVALID_OPTION' || code === 'ERR_RINGCAST_BAD_ADDRESS';
    if (fromCommandLine && command !== undefined && Object.hasOwn(USAGES, command)) {
      throw new UsageError(command as Command, (error as Error).message);
    }
    throw error;
  }
}

async function dispatch(command: string | undefined, rest: string[]): Promise<number> {
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
      if (rest.includes('--help') || rest.includes('-h')) throw new HelpRequested('bridge');
      try {
        return await bridgeCommand(rest);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError('bridge', (error as Error).message);
        throw error;
      }
    case 'bench':
      return bench(rest);
    case 'demo-subscriber': {
      const result = await runDemoSubscriber(rest[0]!, Number(rest[1]));
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return result.error ? 1 : 0;
    }
    case 'help':
    case '-h':
    case '--help': {
      const topic = rest[0];
      if (topic === undefined) throw new HelpRequested(null);
      if (!Object.hasOwn(USAGES, topic)) throw new UsageError(null, `no help for ${quoteInput(topic)}: not a command`);
      throw new HelpRequested(topic as Command);
    }
    case '-V':
    case '--version':
      console.log(version());
      return 0;
    case undefined:
      throw new UsageError(null, 'a command is needed');
    default:
      throw new UsageError(null, `unknown command ${quoteInput(command)}`);
  }
}

/** The bus argument of `command`, required. */
function busAddress(command: Command, value: string | undefined): string {
  if (!value) throw new UsageError(command, `${command} needs ${BUS_ARGUMENT}`);
  return value;
}

function usageOf(command: Command | null): string {
  return command === null ? USAGE : `usage:\n${USAGES[command]}`;
}

// A reader that went away (`ringcast sub S | head -c 1000`) ends us quietly, as it ends other Unix tools.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const [command, ...rest] = process.argv.slice(2);
run(command, rest).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof HelpRequested) {
      console.log(usageOf(error.command));
      process.exitCode = 0;
    } else if (error instanceof UsageError) {
      console.error(`ringcast: ${error.message}\n${usageOf(error.command)}`);
      process.exitCode = 2;
    } else {
      const code = error instanceof RingcastError ? error.code : ((error as { code?: string }).code ?? 'ERROR');
      console.error(`ringcast: ${code}: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  },
);
