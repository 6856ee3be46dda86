// Bus addresses: the one string syntax every API and CLI command takes to name
// a bus, whatever provides it (docs/addresses.md). Parsed here and nowhere
// else; what an address cannot say (guests of a VM bus, a manual Xen line,
// timeouts) stays in the options objects, and the resolve* functions below
// merge the two, refusing a value given both ways.
import { RingcastError, invalidOption, quoteInput } from './errors.js';

/** A bus served through a Unix socket and memfd (the local provider). */
export interface UnixAddress {
  kind: 'unix';
  /** The bus's socket path. */
  path: string;
}

/** A bus on ivshmem shared memory: KVM/QEMU guests, or a host standing in for one. */
export interface IvshmemAddress {
  kind: 'ivshmem';
  /** The ring: its file on the host, or the guest driver's device in a guest. */
  ring: string;
  /** A subscriber's ack page: its file, or its device in a guest. */
  ack?: string;
  /** In a guest: the ivshmem-doorbell device. */
  doorbell?: string;
  /** On the host: the ivshmem server's socket. */
  server?: string;
  /** A mixed bus's Unix socket: local processes attach through it (docs/vm.md, "Mixed bus"). */
  unix?: string;
}

/** A Xen bus: published from one domain, found through XenStore by receiver domains. */
export interface XenAddress {
  kind: 'xen';
  /** The publisher's domain. */
  publisher: number;
  /** The bus's name in XenStore. */
  bus: string;
  /** A subscriber's slot among its domain's slots (default 0); a publisher's address has none. */
  slot?: number;
}

export type BusAddress = UnixAddress | IvshmemAddress | XenAddress;

/** The part of an address an AddressError is about, e.g. `scheme`, `path`, `parameter server`, `domain`. */
export type AddressPart = string;

/** A bus address that does not parse, or lacks what its use needs: `part` names what is wrong. */
export class AddressError extends RingcastError {
  readonly address: string;
  readonly part: AddressPart;
  constructor(address: string, part: AddressPart, problem: string) {
    super('ERR_RINGCAST_BAD_ADDRESS', `bad bus address ${quoteInput(address)}: ${part}: ${problem}`);
    this.name = 'AddressError';
    this.address = address;
    this.part = part;
  }
}

/** What an API cannot do yet with a bus of this kind (ERR_RINGCAST_UNSUPPORTED). */
export function unsupported(what: string, instead?: string): RingcastError {
  return new RingcastError('ERR_RINGCAST_UNSUPPORTED', `not supported yet: ${what}${instead ? `; ${instead}` : ''}`);
}

/** The schemes, and the parameters each takes after `?`. */
const PARAMETERS = { unix: [], ivshmem: ['ack', 'doorbell', 'server', 'unix'], xen: [] } as const;
type Scheme = keyof typeof PARAMETERS;

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** The Xen bus name rule (src/providers/xen.ts, checkBus). */
const XEN_BUS_NAME = /^[A-Za-z0-9_-]{1,32}$/;
/** DOMID_FIRST_RESERVED - 1: the largest domain id Xen gives out. */
const MAX_DOMID = 0x7fef;
/** Slots per domain on a Xen bus (RC_XEN_MAX_LANE_SLOTS); kept here so parsing needs no addon. */
const XEN_SLOTS = 8;
/** sun_path's 108 bytes, less the terminating NUL. */
const MAX_SOCKET_PATH = 107;

function decode(address: string, part: AddressPart, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new AddressError(address, part, `malformed %-escape in ${quoteInput(text)}`);
  }
}

function filePath(address: string, part: AddressPart, text: string): string {
  const value = decode(address, part, text);
  if (value.length === 0) throw new AddressError(address, part, 'empty');
  if (value.includes('\0')) throw new AddressError(address, part, 'contains a NUL byte');
  return value;
}

function socketPath(address: string, part: AddressPart, value: string): string {
  if (Buffer.byteLength(value) > MAX_SOCKET_PATH) throw new AddressError(address, part, `a socket path of at most ${MAX_SOCKET_PATH} bytes, got ${Buffer.byteLength(value)}`);
  return value;
}

function integer(address: string, part: AddressPart, text: string, max: number): number {
  if (!/^(0|[1-9][0-9]*)$/.test(text) || Number(text) > max) throw new AddressError(address, part, `an integer from 0 to ${max}, got ${quoteInput(text)}`);
  return Number(text);
}

/** `a=1&b=2` after the `?`: each key once, each known to the scheme, each with a value. */
function parameters(address: string, scheme: Scheme, query: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (query === undefined) return out;
  const known: readonly string[] = PARAMETERS[scheme];
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    const key = decode(address, 'parameters', equals < 0 ? pair : pair.slice(0, equals));
    const part = `parameter ${key || '(empty)'}`;
    if (!known.includes(key)) {
      throw new AddressError(address, part, known.length ? `${scheme}: does not take it (it takes ${known.join(', ')})` : `${scheme}: takes no parameters`);
    }
    if (out.has(key)) throw new AddressError(address, part, 'given twice');
    if (equals < 0) throw new AddressError(address, part, 'needs a value (key=value)');
    out.set(key, filePath(address, part, pair.slice(equals + 1)));
  }
  return out;
}

/**
 * Parses a bus address (docs/addresses.md):
 *
 * - `unix:PATH`, or a bare PATH (one that does not start with `letters:`): a
 *   local bus's Unix socket.
 * - `ivshmem:RING?ack=FILE&doorbell=DEVICE` (a guest) or
 *   `ivshmem:RING?ack=FILE&server=SOCKET` (a host standing in for a guest);
 *   a publisher gives `ivshmem:RING?server=SOCKET`, and `&unix=PATH` for a
 *   mixed bus (local processes attach through that socket too).
 * - `xen:DOMID/BUS[/SLOT]`: the publisher's domain, the bus's name, our slot.
 *
 * After a scheme, `%XX` escapes a character (`%3F` for `?`, `%25` for `%`);
 * a bare path is taken as it is. Throws AddressError (ERR_RINGCAST_BAD_ADDRESS)
 * naming the part that is wrong; a value that is not a string is an invalid
 * `option` (default `address`).
 */
export function parseAddress(address: unknown, option = 'address'): BusAddress {
  if (typeof address !== 'string') throw invalidOption(option, address, 'a bus address string (unix:PATH, ivshmem:RING?..., xen:DOMID/BUS)');
  if (address.length === 0) throw new AddressError(address, 'path', 'empty');
  const scheme = SCHEME.exec(address)?.[1];
  if (scheme === undefined) {
    if (address.includes('\0')) throw new AddressError(address, 'path', 'contains a NUL byte');
    return { kind: 'unix', path: socketPath(address, 'path', address) };
  }
  if (!Object.hasOwn(PARAMETERS, scheme)) {
    throw new AddressError(address, 'scheme', `unknown scheme ${quoteInput(`${scheme}:`)} (unix:, ivshmem: or xen:; write a path that contains ':' as unix:PATH or ./PATH)`);
  }
  const rest = address.slice(scheme.length + 1);
  const question = rest.indexOf('?');
  const body = question < 0 ? rest : rest.slice(0, question);
  const params = parameters(address, scheme as Scheme, question < 0 ? undefined : rest.slice(question + 1));
  switch (scheme as Scheme) {
    case 'unix':
      return { kind: 'unix', path: socketPath(address, 'path', filePath(address, 'path', body)) };
    case 'ivshmem': {
      const ring = filePath(address, 'ring', body);
      const doorbell = params.get('doorbell');
      const server = params.get('server');
      if (doorbell !== undefined && server !== undefined) {
        throw new AddressError(address, 'parameter doorbell', 'not with server (doorbell: in a guest; server: on the host)');
      }
      if (server !== undefined) socketPath(address, 'parameter server', server);
      const unix = params.get('unix');
      if (unix !== undefined) socketPath(address, 'parameter unix', unix);
      const ack = params.get('ack');
      if (ack === ring) throw new AddressError(address, 'parameter ack', 'the same file as the ring');
      if (ack !== undefined && unix !== undefined) {
        throw new AddressError(address, 'parameter unix', 'not with ack (ack: attach as a guest; unix: attach through the bus socket)');
      }
      return {
        kind: 'ivshmem',
        ring,
        ...(ack === undefined ? {} : { ack }),
        ...(doorbell === undefined ? {} : { doorbell }),
        ...(server === undefined ? {} : { server }),
        ...(unix === undefined ? {} : { unix }),
      };
    }
    case 'xen': {
      const parts = body.split('/');
      if (parts.length < 2 || parts.length > 3) throw new AddressError(address, 'path', 'expected DOMID/BUS or DOMID/BUS/SLOT');
      const publisher = integer(address, 'domain', parts[0]!, MAX_DOMID);
      const bus = decode(address, 'bus', parts[1]!);
      if (!XEN_BUS_NAME.test(bus)) throw new AddressError(address, 'bus', `a name of 1 to 32 letters, digits, _ or -, got ${quoteInput(bus)}`);
      const slot = parts[2] === undefined ? undefined : integer(address, 'slot', parts[2], XEN_SLOTS - 1);
      return { kind: 'xen', publisher, bus, ...(slot === undefined ? {} : { slot }) };
    }
  }
}

function encode(value: string): string {
  return value.replace(/[%?&=]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * The canonical text of an address: parseAddress(formatAddress(a)) equals a.
 * What cannot be written so (not an address object, an unknown kind, a field
 * of the wrong type, a value parsing refuses) is an error, never a string
 * that names no bus: ERR_RINGCAST_INVALID_OPTION, or the AddressError
 * parsing the text would give.
 */
export function formatAddress(address: BusAddress): string {
  const text = formatFields(checkAddressObject(address));
  parseAddress(text);
  return text;
}

const ADDRESS_FIELDS = {
  unix: { path: 'string' },
  ivshmem: { ring: 'string', ack: 'string?', doorbell: 'string?', server: 'string?', unix: 'string?' },
  xen: { publisher: 'number', bus: 'string', slot: 'number?' },
} as const;

function checkAddressObject(address: unknown): BusAddress {
  const expected = 'a BusAddress ({ kind: "unix", path } or "ivshmem" or "xen", as parseAddress returns)';
  if (typeof address !== 'object' || address === null) throw invalidOption('address', address, expected);
  const kind = (address as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !Object.hasOwn(ADDRESS_FIELDS, kind)) throw invalidOption('address.kind', kind, '"unix", "ivshmem" or "xen"');
  for (const [field, type] of Object.entries(ADDRESS_FIELDS[kind as BusAddress['kind']])) {
    const value = (address as Record<string, unknown>)[field];
    if (value === undefined && type.endsWith('?')) continue;
    if (typeof value !== type.replace('?', '')) throw invalidOption(`address.${field}`, value, `a ${type.replace('?', '')}`);
  }
  return address as BusAddress;
}

function formatFields(address: BusAddress): string {
  switch (address.kind) {
    case 'unix':
      return `unix:${encode(address.path)}`;
    case 'ivshmem': {
      const query = (['ack', 'doorbell', 'server', 'unix'] as const)
        .filter((key) => address[key] !== undefined)
        .map((key) => `${key}=${encode(address[key]!)}`)
        .join('&');
      return `ivshmem:${encode(address.ring)}${query ? `?${query}` : ''}`;
    }
    case 'xen':
      return `xen:${address.publisher}/${address.bus}${address.slot === undefined ? '' : `/${address.slot}`}`;
  }
}

/**
 * The `address` of an options object, parsed. The older `path` option (a
 * socket path taken as it is, never parsed) may not come with it.
 */
function addressOption(options: { address?: string; path?: string }): BusAddress | undefined {
  if (options.address === undefined) return undefined;
  if (options.path !== undefined) throw invalidOption('path', options.path, 'no value with address (the address names the bus)');
  return parseAddress(options.address);
}

/**
 * The socket path of an address that must name a socket bus: what Channel,
 * ChannelServer, `ringcast stat` and the bridge take for now. Any other
 * valid address is refused with ERR_RINGCAST_UNSUPPORTED, naming `use`.
 */
export function socketAddress(address: unknown, use: string, option = 'address'): string {
  const parsed = parseAddress(address, option);
  if (parsed.kind === 'unix') return parsed.path;
  throw unsupported(`${use} on the ${parsed.kind} bus ${String(address)}`, 'only unix: addresses for now');
}

/** Copies what the address says into an options object, refusing a key the options already give. */
function merge<T extends object>(text: string, optionName: string, fromAddress: Partial<T>, fromOptions: T | undefined): T {
  if (fromOptions !== undefined && (typeof fromOptions !== 'object' || fromOptions === null)) throw invalidOption(optionName, fromOptions, 'an object');
  for (const key of Object.keys(fromAddress)) {
    if (fromOptions !== undefined && (fromOptions as Record<string, unknown>)[key] !== undefined) {
      throw invalidOption(`${optionName}.${key}`, (fromOptions as Record<string, unknown>)[key], `no value with the address ${text} (the address gives it)`);
    }
  }
  return { ...fromOptions, ...fromAddress } as T;
}

/** What a subscriber attaches to: a socket path, or the ivshmem / xen options its routes take. */
export type SubscriberTarget<I, X> = { path: string } | { ivshmem: I } | { xen: X };

/**
 * A subscriber's bus from its options: the address (or path) merged with the
 * `ivshmem` / `xen` options, which may then say only what an address cannot.
 */
export function resolveSubscriberAddress<I extends object, X extends object>(options: {
  address?: string;
  path?: string;
  ivshmem?: I;
  xen?: X;
}): SubscriberTarget<I, X> | undefined {
  const address = addressOption(options);
  if (address === undefined) return undefined;
  const text = options.address!;
  for (const other of ['ivshmem', 'xen'] as const) {
    if (other !== address.kind && options[other] !== undefined) throw invalidOption(other, options[other], `no value with the address ${text}`);
  }
  switch (address.kind) {
    case 'unix':
      return { path: address.path };
    case 'ivshmem': {
      // A local process on a mixed bus: through its socket, like any local bus.
      if (address.unix !== undefined && options.ivshmem === undefined) return { path: address.unix };
      if (address.ack === undefined) throw new AddressError(text, 'parameter ack', "a subscriber needs its ack page (ack=FILE)");
      if (address.doorbell === undefined && address.server === undefined) {
        throw new AddressError(text, 'parameter doorbell', 'a subscriber needs doorbell=DEVICE (in a guest) or server=SOCKET (on the host)');
      }
      // unix= is the mixed bus's socket, which a subscriber through ivshmem does not use.
      const { kind: _, unix: _socket, ...given } = address;
      return { ivshmem: merge(text, 'ivshmem', given as unknown as Partial<I>, options.ivshmem) };
    }
    case 'xen': {
      const { kind: _, ...given } = address;
      return { xen: merge(text, 'xen', given as unknown as Partial<X>, options.xen) };
    }
  }
}

/** What a publisher serves: a socket path, the ivshmem `vm` options, or a Xen bus (its `xen` options stay where they are). */
export type PublisherTarget<V> =
  | { path: string; vm?: undefined; xenBus?: undefined }
  | { path: string; vm: V; xenBus?: undefined }
  | { path: string; vm?: undefined; xenBus: { domid: number; bus: string } };

/**
 * A publisher's bus from its options: `unix:` (or a bare path) is a socket;
 * `ivshmem:RING?server=SOCKET` fills vm.ringFile and vm.ivshmemServer, and
 * the guests stay in `vm.guests`; `xen:DOMID/BUS` names this domain and the
 * bus, and the receivers stay in `xen.receivers`.
 */
export function resolvePublisherAddress<V extends object>(options: { address?: string; path?: string; vm?: V }): PublisherTarget<V> | undefined {
  const address = addressOption(options);
  if (address === undefined) return undefined;
  const text = options.address!;
  switch (address.kind) {
    case 'unix':
      if (options.vm !== undefined) throw invalidOption('vm', options.vm, `no value with the socket address ${text} (a VM bus is ivshmem:RING?server=SOCKET, a mixed one ivshmem:RING?server=SOCKET&unix=PATH)`);
      return { path: address.path };
    case 'ivshmem':
      if (address.ack !== undefined) throw new AddressError(text, 'parameter ack', "a publisher takes its guests' ack files from vm.guests");
      if (address.doorbell !== undefined) throw new AddressError(text, 'parameter doorbell', 'a publisher runs on the host: give server=SOCKET');
      if (address.server === undefined) throw new AddressError(text, 'parameter server', "a publisher needs the ivshmem server's socket (server=SOCKET)");
      if (address.unix === undefined) {
        return { path: text, vm: merge(text, 'vm', { ringFile: address.ring, ivshmemServer: address.server } as unknown as Partial<V>, options.vm) };
      }
      // A mixed bus: the socket is where local processes find it, so it is the path.
      return {
        path: address.unix,
        vm: merge(text, 'vm', { ringFile: address.ring, ivshmemServer: address.server, unixSocket: address.unix } as unknown as Partial<V>, options.vm),
      };
    case 'xen':
      if (address.slot !== undefined) throw new AddressError(text, 'slot', 'a publisher serves every slot of its bus: give xen:DOMID/BUS (DOMID: its own domain)');
      if (options.vm !== undefined) throw invalidOption('vm', options.vm, `no value with the Xen address ${text} (receivers go in xen.receivers)`);
      return { path: formatAddress(address), xenBus: { domid: address.publisher, bus: address.bus } };
  }
}
