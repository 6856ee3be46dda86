// Waits for the given number of subscribers, publishes numbered messages, closes the bus.
import { once } from 'node:events';
import { Publisher } from 'ringcast';

const [path, subscribers, messages] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const publisher = await Publisher.listen({ path, capacity: 1 << 16 });
console.log('listening');
while (publisher.subscriberCount < subscribers) await once(publisher, 'subscribe');
for (let seq = 0; seq < messages; seq++) {
  const message = Buffer.alloc(64, seq & 0xff);
  message.writeUInt32LE(seq, 0);
  await publisher.publish(message);
}
await publisher.close();
console.log(JSON.stringify({ published: messages }));
