// Type tests (see events.ts): option combinations refused at run time are
// refused by the types.
import { Publisher, type PublisherOptions } from 'ringcast';

const path = '/tmp/bus.sock';
export const fine: PublisherOptions[] = [
  { path },
  { path, policy: 'block', evictAfterMs: 100, maxLagBytes: 4096 },
  { path, evictAfterMs: 100 },
  { path, policy: 'drop' },
  { path, policy: 'drop', maxLagBytes: 4096 },
  // An ivshmem: address gives the ring file and the server: vm then says only who the guests are (docs/addresses.md).
  { address: 'ivshmem:/dev/shm/bus.ring?server=/run/ivshmem.sock', vm: { guests: [{ name: 'g0', ackFile: '/dev/shm/bus.ack.0' }] } },
];

// @ts-expect-error evictAfterMs needs policy 'block' (drop never waits)
export const dropWithEvictAfter: PublisherOptions = { path, policy: 'drop', evictAfterMs: 100 };

export async function listenDropWithEvictAfter(): Promise<Publisher> {
  // @ts-expect-error the same, straight into listen()
  return Publisher.listen({ path, policy: 'drop', evictAfterMs: 5 });
}

// @ts-expect-error there is no policy 'fast'
export const unknownPolicy: PublisherOptions = { path, policy: 'fast' };

export async function waits(publisher: Publisher, signal: AbortSignal): Promise<void> {
  await publisher.waitForSubscribers(2, { signal });
  await publisher.abort();
  // @ts-expect-error the count is a number
  await publisher.waitForSubscribers('2');
}
