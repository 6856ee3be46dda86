// `ringcast bridge` and `ringcast stat http://…` (a bridge's figures).
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { parseArgs } from 'node:util';

import { CommandLineError, guestsFor, joinNegativeValues, parseGuests, parseReceivers } from '../command-line.js';
import { RingcastError, quoteInput } from '../errors.js';
import type { PublisherOptionFields } from '../publisher.js';
import { Bridge, type BridgeOptions, type BridgeStats, type BridgeTransportOptions } from './bridge.js';

export const BRIDGE_USAGE = `  ringcast bridge [--forward <bus>] [--republish <bus> [--guest NAME=ACKFILE]... [--receivers DOMID[:sub|:pub],...]]
                  (--nats <url> --subject <subject> | --tcp-listen [host:]port | --tcp-connect host:port)
                  [--policy block|drop] [--capacity BYTES] [--handshake-timeout-ms MS]
                  [--metrics-port N [--metrics-host HOST]] [--json]
      forward a bus (unix:, ivshmem:, xen: address) to remote hosts and/or republish theirs into a
      bus (unix:, ivshmem:RING?server=SOCKET[&unix=PATH] with one --guest per guest, in slot order,
      the same --guest as pub, or xen:DOMID/BUS of this domain with --receivers, as for pub)
  ringcast stat http://<host>:<metrics-port> [--json]
      a bridge's figures (from its --metrics-port)`;

export class BridgeUsageError extends CommandLineError {}

function hostPort(flag: string, value: string, hostRequired: boolean): { host?: string; port: number } {
  const match = /^(?:(.+):)?(\d+)$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535 || (hostRequired && !match[1])) {
    throw new BridgeUsageError(`--${flag} wants ${hostRequired ? 'host:port' : '[host:]port'} with a port from 0 to 65535, got ${quoteInput(value)}`);
  }
  return match[1] ? { host: match[1].replace(/^\[(.*)\]$/, '$1'), port } : { port };
}

const BRIDGE_OPTIONS = {
  forward: { type: 'string' },
  republish: { type: 'string' },
  nats: { type: 'string', multiple: true },
  subject: { type: 'string' },
  'tcp-listen': { type: 'string' },
  'tcp-connect': { type: 'string' },
  policy: { type: 'string' },
  capacity: { type: 'string' },
  guest: { type: 'string', multiple: true },
  receivers: { type: 'string' },
  'handshake-timeout-ms': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function bridgeCommand(args: string[]): Promise<number> {
  // As every other command: `--tcp-listen -1` is a value, refused by its own range check.
  const { values } = parseArgs({ args: joinNegativeValues(args, BRIDGE_OPTIONS), options: BRIDGE_OPTIONS });
  const chosen = [values.nats, values['tcp-listen'], values['tcp-connect']].filter((v) => v !== undefined);
  if (chosen.length !== 1) throw new BridgeUsageError('bridge needs exactly one of --nats, --tcp-listen, --tcp-connect');
  let transport: BridgeTransportOptions;
  if (values.nats) {
    if (!values.subject) throw new BridgeUsageError('--nats needs --subject');
    transport = { type: 'nats', servers: values.nats, subject: values.subject };
  } else if (values['tcp-listen']) {
    transport = { type: 'tcp', listen: hostPort('tcp-listen', values['tcp-listen'], false) };
  } else {
    const { host, port } = hostPort('tcp-connect', values['tcp-connect']!, true);
    transport = { type: 'tcp', connect: { host: host!, port } };
  }
  const number = (flag: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new BridgeUsageError(`--${flag} must be a whole number, got ${quoteInput(value)}`);
    return Number(value);
  };
  const capacity = number('capacity', values.capacity);
  if (values.guest && values.republish === undefined) throw new BridgeUsageError('--guest needs --republish ivshmem:RING?server=SOCKET');
  const guests = parseGuests(values.guest);
  if (values.receivers !== undefined && values.republish === undefined) throw new BridgeUsageError('--receivers needs --republish xen:DOMID/BUS');
  const receivers = parseReceivers(values.receivers);
  const options: BridgeOptions = {
    forward: values.forward,
    republish:
      values.republish === undefined
        ? undefined
        : // The address gives the ring file and ivshmem server, or the Xen bus; only guests or receivers come from here.
          {
            address: values.republish,
            capacity,
            ...(guestsFor(values.republish, '--republish', guests) as Pick<PublisherOptionFields, 'vm'>),
            ...(receivers && { xen: { receivers } }),
          },
    transport,
    policy: values.policy as BridgeOptions['policy'],
    handshakeTimeoutMs: number('handshake-timeout-ms', values['handshake-timeout-ms']),
    metricsPort: number('metrics-port', values['metrics-port']),
    metricsHost: values['metrics-host'],
  };
  const bridge = await Bridge.start(options);
  const say = values.json
    ? (event: string, data: object): void => void process.stdout.write(`${JSON.stringify({ event, ...data })}\n`)
    : (event: string, data: object): void => console.log(`${event} ${JSON.stringify(data)}`);
  bridge.on('gap', (gap) => say('gap', gap));
  bridge.on('drop', (drop) => say('drop', drop));
  bridge.on('up', () => say('up', {}));
  bridge.on('down', (down) => say('down', down));
  bridge.on('malformed', (error: Error) => say('malformed', { message: error.message }));
  say('ready', { id: bridge.id, port: bridge.port, metricsPort: bridge.metricsPort });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await bridge.close();
  say('closed', { stats: bridge.stats() });
  return 0;
}

/** A bridge's stats are a few kilobytes: anything past this is not one, and is not read further. */
const STATS_MAX_BYTES = 1 << 20;
const STATS_TIMEOUT_MS = 10_000;

/**
 * GET `target` with node:http rather than fetch(): fetch refuses the ports
 * the Fetch standard calls bad (6000, 10080, ...), where a bridge's
 * --metrics-port may well be, and would read an endless answer to the end.
 */
function readStats(target: URL, unreachable: (problem: string, cause?: unknown) => RingcastError): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const get = target.protocol === 'https:' ? httpsGet : target.protocol === 'http:' ? httpGet : null;
    if (!get) return reject(unreachable('not an http: or https: URL'));
    const request = get(target, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > STATS_MAX_BYTES) {
          request.destroy(unreachable(`the answer is larger than ${STATS_MAX_BYTES} bytes: not a bridge's stats`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', (error) => reject(error instanceof RingcastError ? error : unreachable(error.message, error)));
    });
    request.setTimeout(STATS_TIMEOUT_MS, () => request.destroy(unreachable(`no answer within ${STATS_TIMEOUT_MS} ms`)));
    request.on('error', (error) => reject(error instanceof RingcastError ? error : unreachable(error.message, error)));
  });
}

export async function bridgeStat(url: string, json: boolean): Promise<number> {
  let target: URL;
  try {
    target = new URL('/stats.json', url);
  } catch {
    throw new CommandLineError(`${quoteInput(url)} is not a URL (http://HOST:PORT of a bridge's --metrics-port)`);
  }
  // Whatever answers there is not trusted to be a bridge: each failure says what it was.
  const unreachable = (problem: string, cause?: unknown): RingcastError =>
    new RingcastError('ERR_RINGCAST_SYSTEM', `cannot read a bridge's stats from ${target.href}: ${problem}`, { cause });
  const { status, body } = await readStats(target, unreachable);
  if (status < 200 || status > 299) throw unreachable(`it answered HTTP ${status}`);
  let stats: BridgeStats;
  try {
    stats = JSON.parse(body.toString('utf8')) as BridgeStats;
  } catch (error) {
    throw unreachable('the answer is not JSON', error);
  }
  if (typeof stats !== 'object' || stats === null || typeof stats.id !== 'string') throw unreachable('the answer is not a bridge\'s stats');
  if (json) {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    return 0;
  }
  console.log(`bridge ${stats.id} over ${stats.transport}: ${stats.connected ? 'connected' : 'DISCONNECTED'}, ${stats.reconnects} reconnects`);
  console.table({ forward: stats.forward, republish: stats.republish });
  return 0;
}
