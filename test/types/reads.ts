// Type tests (see events.ts): what the copy APIs hand over.
import type { Subscriber } from 'ringcast';

export async function reads(subscriber: Subscriber, signal: AbortSignal): Promise<number> {
  let bytes = 0;
  for await (const message of subscriber) bytes += message.byteLength;
  for await (const batch of subscriber.batches({ signal })) {
    const first: Buffer | undefined = batch[0];
    bytes += batch.length + (first?.byteLength ?? 0);
    // @ts-expect-error a batch is an array of messages, not one message
    bytes += batch.byteLength;
  }
  // @ts-expect-error the signal is an AbortSignal
  subscriber.batches({ signal: 'soon' });
  return bytes;
}
