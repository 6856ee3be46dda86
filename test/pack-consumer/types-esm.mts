// Type-checks the public API as an ES module consumer sees it.
import { Publisher, Subscriber, EvictedError, type PublisherStats, type SubscriberOptions } from 'ringcast';

const path = '/tmp/bus.sock';
const options: SubscriberOptions = { path, rejoin: true };
export async function roundTrip(): Promise<number> {
  const publisher = await Publisher.listen({ path, policy: 'drop' });
  const subscriber = await Subscriber.connect(options);
  await publisher.publish(new Uint8Array(8));
  const message: Buffer | null = await subscriber.recv();
  const stats: PublisherStats = publisher.stats();
  await subscriber.close();
  await publisher.close();
  return (message?.length ?? 0) + stats.subscribers.length;
}
export function lost(error: unknown): number {
  return error instanceof EvictedError ? error.lostBytes : 0;
}
