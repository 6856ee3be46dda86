// The Xen provider's TypeScript surface where it can run without Xen: option
// validation and the typed error on a system without the Xen devices. The
// grant tables, event channels and XenStore run in `npm run test:xen`
// (test/xen/run.sh: Xen 4.17 under QEMU, with node-peer.mjs in the domains).
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { Subscriber, XenPublisher, type XenPublisherOptions } from '../src/index.js';
import { DEFAULT_EVICT_AFTER_MS } from '../src/options.js';
import { xenPublisherSettings } from '../src/providers/xen.js';

const onXen = existsSync('/dev/xen/gntalloc') && existsSync('/dev/xen/evtchn');

async function openError(options: unknown): Promise<{ code: string; message: string }> {
  try {
    const pub = await XenPublisher.open(options as XenPublisherOptions);
    await pub.close({ lingerMs: 0 });
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('XenPublisher.open accepted the options');
}

describe('XenPublisher options', () => {
  it.each([
    ['no bus', { receivers: [{ domid: 1 }] }, /option bus: expected a bus name/],
    ['a bus name with a slash', { bus: 'a/b', receivers: [{ domid: 1 }] }, /option bus/],
    ['a bus name too long', { bus: 'x'.repeat(33), receivers: [{ domid: 1 }] }, /option bus/],
    ['no receivers', { bus: 'b', receivers: [] }, /option receivers/],
    ['a receiver without domid', { bus: 'b', receivers: [{}] }, /option receivers\[0\]\.domid/],
    ['a reserved domid', { bus: 'b', receivers: [{ domid: 0x7ff0 }] }, /option receivers\[0\]\.domid: expected a domain id from 0 to 32751/],
    ['an unknown ack grant', { bus: 'b', receivers: [{ domid: 1, ackGrant: 'both' }] }, /option receivers\[0\]\.ackGrant/],
    ['a subscriber-granted ack page with manual rendezvous', { bus: 'b', rendezvous: 'manual', receivers: [{ domid: 1, ackGrant: 'subscriber' }] }, /'publisher' with manual rendezvous/],
    ['nine slots in one domain', { bus: 'b', receivers: Array.from({ length: 9 }, () => ({ domid: 1 })) }, /at most 8 slots per domain/],
    ['nine domains', { bus: 'b', receivers: Array.from({ length: 9 }, (_, i) => ({ domid: i + 1 })) }, /at most 8 domains/],
    ['a ring above 1 MiB', { bus: 'b', receivers: [{ domid: 1 }], capacity: 2 * 1024 * 1024 }, /option capacity: expected at most 1048576 on Xen/],
    ['evictAfterMs with the drop policy', { bus: 'b', receivers: [{ domid: 1 }], policy: 'drop', evictAfterMs: 100 }, /option evictAfterMs/],
    ['an unknown rendezvous', { bus: 'b', receivers: [{ domid: 1 }], rendezvous: 'dns' }, /option rendezvous/],
    ['a heartbeat timeout below four service periods', { bus: 'b', receivers: [{ domid: 1 }], heartbeatTimeoutMs: 100 }, /option heartbeatTimeoutMs/],
    ['a negative evictAfterMs', { bus: 'b', receivers: [{ domid: 1 }], evictAfterMs: -1 }, /option evictAfterMs: expected an integer from 0 to 3600000/],
    ['a fractional evictAfterMs', { bus: 'b', receivers: [{ domid: 1 }], evictAfterMs: 1.5 }, /option evictAfterMs: expected an integer/],
    ['evictAfterMs 0 with the drop policy', { bus: 'b', receivers: [{ domid: 1 }], policy: 'drop', evictAfterMs: 0 }, /option evictAfterMs: expected no value with policy 'drop'/],
  ])('refuses %s with ERR_RINGCAST_INVALID_OPTION', async (_name, options, message) => {
    const error = await openError(options);
    expect(error.code).toBe('ERR_RINGCAST_INVALID_OPTION');
    expect(error.message).toMatch(message);
  });

  it('says which devices are missing on a system that is not a Xen domain', async ({ skip }) => {
    if (onXen) skip('inside a Xen domain the devices exist');
    const error = await openError({ bus: 'quotes', receivers: [{ domid: 1 }] });
    expect(error.code).toBe('ERR_RINGCAST_SYSTEM');
    expect(error.message).toMatch(/\/dev\/xen\/gntalloc, gntdev and evtchn/);
  });
});

describe('XenPublisher slow-consumer defaults (the same as Publisher)', () => {
  const receivers = [{ domid: 1 }];

  it('bounds block by default: a subscriber that stops reading is evicted after DEFAULT_EVICT_AFTER_MS', () => {
    const settings = xenPublisherSettings({ bus: 'b', receivers });
    expect(settings.policy).toBe('block');
    expect(settings.evictAfterMs).toBe(DEFAULT_EVICT_AFTER_MS);
  });

  it('waits forever only when asked with evictAfterMs: 0', () => {
    expect(xenPublisherSettings({ bus: 'b', receivers, evictAfterMs: 0 }).evictAfterMs).toBeUndefined();
    expect(xenPublisherSettings({ bus: 'b', receivers, evictAfterMs: 250 }).evictAfterMs).toBe(250);
  });

  it('never waits with drop, so has no eviction clock', () => {
    expect(xenPublisherSettings({ bus: 'b', receivers, policy: 'drop' }).evictAfterMs).toBeUndefined();
  });

  it('accepts evictAfterMs: 0 at open (the refusal that follows is about Xen, not the option)', async ({ skip }) => {
    if (onXen) skip('inside a Xen domain the open goes on');
    const error = await openError({ bus: 'b', receivers, evictAfterMs: 0 });
    expect(error.code).toBe('ERR_RINGCAST_SYSTEM');
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
