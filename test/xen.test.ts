// The Xen provider's TypeScript surface where it can run without Xen: option
// validation (Publisher on a xen: address, Subscriber with xen) and the typed
// error on a system without the Xen devices. The
// grant tables, event channels and XenStore run in `npm run test:xen`
// (test/xen/run.sh: Xen 4.17 under QEMU, with node-peer.mjs in the domains).
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { Publisher, Subscriber, constants, type PublisherOptions } from '../src/index.js';

const onXen = existsSync('/dev/xen/gntalloc') && existsSync('/dev/xen/evtchn');

async function listenError(options: unknown): Promise<{ code: string; message: string }> {
  try {
    const pub = await Publisher.listen(options as PublisherOptions);
    await pub.close();
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('Publisher.listen accepted the options');
}

const bus = (xen: unknown, more: object = {}) => ({ address: 'xen:1/b', xen, ...more });
const one = { receivers: [{ domid: 2 }] };

describe('Publisher.listen on a xen: address', () => {
  it.each([
    ['no xen options', { address: 'xen:1/b' }, /option xen: expected \{ receivers/],
    ['xen options with a socket address', { address: 'unix:/tmp/x.sock', xen: one }, /option xen: expected a value only with a xen:DOMID\/BUS address/],
    ['a slot in the address', { address: 'xen:1/b/0', xen: one }, /slot: a publisher serves every slot/],
    ['vm options with a xen address', { address: 'xen:1/b', xen: one, vm: { guests: [] } }, /option vm/],
    ['no receivers', bus({ receivers: [] }), /option xen\.receivers/],
    ['a receiver without domid', bus({ receivers: [{}] }), /option xen\.receivers\[0\]\.domid/],
    ['a reserved domid', bus({ receivers: [{ domid: 0x7ff0 }] }), /option xen\.receivers\[0\]\.domid: expected a domain id from 0 to 32751/],
    ['an unknown ack grant', bus({ receivers: [{ domid: 1, ackGrant: 'both' }] }), /option xen\.receivers\[0\]\.ackGrant/],
    ['a subscriber-granted ack page with manual rendezvous', bus({ rendezvous: 'manual', receivers: [{ domid: 1, ackGrant: 'subscriber' }] }), /'publisher' with manual rendezvous/],
    ['nine slots in one domain', bus({ receivers: Array.from({ length: 9 }, () => ({ domid: 1 })) }), /at most 8 slots per domain/],
    ['nine domains', bus({ receivers: Array.from({ length: 9 }, (_, i) => ({ domid: i + 1 })) }), /at most 8 domains/],
    ['an unknown rendezvous', bus({ ...one, rendezvous: 'dns' }), /option xen\.rendezvous/],
    ['a negative lingerMs', bus({ ...one, lingerMs: -1 }), /option xen\.lingerMs/],
    ['an option xen does not know', bus({ ...one, linger: 5 }), /option "linger": not an option of xen \(known: receivers, rendezvous, lingerMs\)/],
    ['a receiver option it does not know', bus({ receivers: [{ domid: 1, ackgrant: 'publisher' }] }), /option "ackgrant": not an option of xen\.receivers\[0\]/],
    ['a ring above the Xen maximum', bus(one, { capacity: 2 * constants.xenMaxCapacity }), new RegExp(`option capacity: expected at most ${constants.xenMaxCapacity} on Xen`)],
    ['a maxPayload other than the default', bus(one, { maxPayload: 1024 }), /option maxPayload: expected the default on a Xen bus/],
    ['a maxMessageBytes other than the default', bus(one, { maxMessageBytes: 1 << 20 }), /option maxMessageBytes: expected the default on a Xen bus/],
    ['evictAfterMs with the drop policy', bus(one, { policy: 'drop', evictAfterMs: 100 }), /option evictAfterMs/],
    ['a heartbeat timeout below four service periods', bus(one, { heartbeatTimeoutMs: 100 }), /option heartbeatTimeoutMs/],
  ])('refuses %s with a typed error before touching Xen', async (_name, options, message) => {
    const error = await listenError(options);
    expect(['ERR_RINGCAST_INVALID_OPTION', 'ERR_RINGCAST_BAD_ADDRESS']).toContain(error.code);
    expect(error.message).toMatch(message);
  });

  it('says which devices are missing on a system that is not a Xen domain', async ({ skip }) => {
    if (onXen) skip('inside a Xen domain the devices exist');
    const error = await listenError(bus(one));
    expect(error.code).toBe('ERR_RINGCAST_SYSTEM');
    expect(error.message).toMatch(/bus xen:1\/b: .*\/dev\/xen\/gntalloc, gntdev and evtchn/);
  });

  it('takes a ring of 16 MiB, the default max_pages of the grant device (the refusal that follows is about Xen)', async ({ skip }) => {
    if (onXen) skip('inside a Xen domain the open goes on');
    expect(constants.xenMaxCapacity).toBe(16 << 20);
    for (const capacity of [2 << 20, 16 << 20]) expect(await listenError(bus(one, { capacity }))).toMatchObject({ code: 'ERR_RINGCAST_SYSTEM' });
  });

  it('takes the slow-consumer options as every Publisher does (the refusal that follows is about Xen)', async ({ skip }) => {
    if (onXen) skip('inside a Xen domain the open goes on');
    for (const more of [{ evictAfterMs: 0 }, { policy: 'drop' }, { capacity: constants.xenMaxCapacity, maxLagBytes: constants.xenMaxCapacity }, { capacity: constants.xenMaxCapacity }]) {
      expect((await listenError(bus(one, more))).code).toBe('ERR_RINGCAST_SYSTEM');
    }
  });
});

describe('Subscriber.connect({ xen })', () => {
  it.each([
    ['no publisher', { bus: 'b' }, /option xen\.publisher/],
    ['a slot out of range', { bus: 'b', publisher: 1, slot: 8 }, /option xen\.slot: expected an integer from 0 to 7/],
    ['an empty manual line', { bus: 'b', publisher: 1, manual: '' }, /option xen\.manual/],
    ['a bad bus name', { bus: '', publisher: 1 }, /option xen\.bus/],
  ])('refuses %s', async (_name, xen, message) => {
    await expect(Subscriber.connect({ xen: xen as never })).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringMatching(message) });
  });

  it('refuses a path or ivshmem beside xen', async () => {
    await expect(Subscriber.connect({ path: '/tmp/x.sock', xen: { bus: 'b', publisher: 1 } })).rejects.toMatchObject({ code: 'ERR_RINGCAST_INVALID_OPTION', message: expect.stringMatching(/option path/) });
    await expect(Subscriber.connect({ ivshmem: { ring: '/r', ack: '/a', doorbell: '/d' }, xen: { bus: 'b', publisher: 1 } })).rejects.toMatchObject({
      code: 'ERR_RINGCAST_INVALID_OPTION',
      message: expect.stringMatching(/option xen/),
    });
  });

  it('says which devices are missing on a system that is not a Xen domain', async ({ skip }) => {
    if (onXen) skip('inside a Xen domain the devices exist');
    await expect(Subscriber.connect({ xen: { bus: 'quotes', publisher: 1 } })).rejects.toMatchObject({
      code: 'ERR_RINGCAST_SYSTEM',
      message: expect.stringMatching(/bus xen:1\/quotes\/0: .*\/dev\/xen/),
    });
  });
});
