// What more than one `ringcast` command reads from its command line in the
// same way (src/cli.ts, src/bridge/cli.ts): one parser for each, so `pub` and
// `bridge` cannot drift apart.
import { parseAddress } from './address.js';
import { quoteInput } from './errors.js';
import type { VmGuestOptions } from './providers/ivshmem.js';
import type { XenReceiver } from './providers/xen.js';

/**
 * A wrong command line found by a parser shared between commands: the
 * command that ran it prints the message and its own usage, exit status 2.
 */
export class CommandLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandLineError';
  }
}

/**
 * The arguments with a negative number after a string option joined to it
 * (`--messages -1` reads as `--messages=-1`): parseArgs would otherwise call
 * it "ambiguous", and every command must give both spellings the same clear
 * message, its own range check's.
 */
export function joinNegativeValues(args: readonly string[], options: Readonly<Record<string, { type: 'string' | 'boolean' }>>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (arg.startsWith('--') && options[arg.slice(2)]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

/**
 * `--guest NAME=ACKFILE`, once per guest, in slot order (guest i owns slot i):
 * the guests of an ivshmem bus the command publishes. NAME ends at the first
 * `=`; ACKFILE is the rest. Whether the names are unique and each ack file
 * its own is the library's check (`vm.guests[i]`, the i-th `--guest`).
 */
export function parseGuests(values: readonly string[] | undefined): VmGuestOptions[] | undefined {
  return values?.map((value) => {
    const equals = value.indexOf('=');
    if (equals <= 0 || equals === value.length - 1) throw new CommandLineError(`--guest wants NAME=ACKFILE, got ${quoteInput(value)}`);
    return { name: value.slice(0, equals), ackFile: value.slice(equals + 1) };
  });
}

/**
 * The `vm` option for a bus published at `address` (given as `given`, e.g.
 * `pub <bus>` or `--republish`): an ivshmem: bus has its guests there, one
 * `--guest` each; any other bus has none.
 */
export function guestsFor(address: string, given: string, guests: VmGuestOptions[] | undefined): { vm?: { guests: VmGuestOptions[] } } {
  const kind = parseAddress(address).kind;
  if (kind === 'ivshmem') {
    if (guests === undefined) throw new CommandLineError(`${given} ${address}: an ivshmem: bus needs its guests, one --guest NAME=ACKFILE each, in slot order`);
    return { vm: { guests } };
  }
  if (guests !== undefined) throw new CommandLineError(`--guest is for an ivshmem:RING?server=SOCKET[&unix=PATH] bus; ${given} ${address} is a ${kind}: bus`);
  return {};
}

/**
 * `--receivers 3,3:pub,0`: the slots of a Xen bus the command publishes
 * (`pub xen:…`, `bridge --republish xen:…`), one per entry, in ring order;
 * `:pub` when the publisher grants that slot's ack page (default `:sub`,
 * the receiver grants it; docs/xen.md).
 */
export function parseReceivers(value: string | undefined): XenReceiver[] | undefined {
  return value?.split(',').map((entry) => {
    const match = /^(0|[1-9][0-9]*)(?::(sub|pub))?$/.exec(entry);
    if (!match) throw new CommandLineError(`--receivers takes DOMID[:sub|:pub],..., got ${quoteInput(entry)}`);
    return { domid: Number(match[1]), ackGrant: match[2] === 'pub' ? 'publisher' : 'subscriber' };
  });
}
