// Type-checks the public API as a CommonJS consumer sees it (require of an ES module).
import ringcast = require('ringcast');

export async function count(path: string): Promise<number> {
  const subscriber: ringcast.Subscriber = await ringcast.Subscriber.connect({ path });
  let n = 0;
  for await (const message of subscriber) n += message.length > 0 ? 1 : 0;
  return n;
}
