// Type tests, checked by tsc (test/types.test.ts): the events of every
// emitter are typed. Each @ts-expect-error line must fail to compile; if the
// types loosen (a misspelled event or field compiles again), tsc reports the
// directive as unused and the test fails.
import { Bridge, Channel, ChannelServer, Publisher, Subscriber, type EvictionEvent, type GapEvent } from 'ringcast';

declare const publisher: Publisher;
declare const subscriber: Subscriber;
declare const channel: Channel;
declare const server: ChannelServer;
declare const bridge: Bridge;

// Right names and fields compile, with the payload's type.
publisher.on('evict', (e) => {
  const evicted: EvictionEvent = e;
  const count: number = e.lostMessages;
  void evicted, count;
});
publisher.on('state', (change) => void change.from.toUpperCase());
publisher.on('subscribe', ({ slot, pid, uid }) => void (slot + pid + uid));
publisher.on('unsubscribe', ({ reason }) => void reason.toUpperCase());
publisher.once('drain', () => {});
subscriber.on('gap', (gap) => {
  const seen: GapEvent = gap;
  void seen.lostMessages;
});
subscriber.on('state', ({ from, to }) => void (from + to));
subscriber.on('end', () => {});
channel.on('end', () => {});
server.on('refuse', ({ reason, pid }) => void (reason + pid));
bridge.on('gap', ({ origin, lostMessages }) => void (origin + lostMessages));
bridge.on('down', ({ reason }) => void reason.length);

// A misspelled event does not compile ...
// @ts-expect-error 'evicted' is not a publisher event (it is 'evict')
publisher.on('evicted', (e) => void e);
// @ts-expect-error 'subscribed' is not a publisher event
publisher.once('subscribed', () => {});
// @ts-expect-error 'gaps' is not a subscriber event
subscriber.on('gaps', () => {});
// @ts-expect-error 'ended' is not a channel event
channel.on('ended', () => {});
// @ts-expect-error 'gone' is not a bridge event
bridge.on('gone', () => {});

// ... nor does a misspelled field of a real one.
// @ts-expect-error EvictionEvent has no totallyNotAField
publisher.on('evict', (e) => void e.totallyNotAField.x);
// @ts-expect-error GapEvent has lostMessages, not lostMesages
subscriber.on('gap', (g) => void g.lostMesages);
// @ts-expect-error StateChange has slot, not slots
publisher.on('state', (s) => void s.slots);
// @ts-expect-error a bridge gap has lostMessages, not lost
bridge.on('gap', (g) => void g.lost);

// A listener that wants more than the event gives does not compile either.
// @ts-expect-error 'end' carries no arguments
subscriber.on('end', (reason: string) => void reason);

// Emitting is typed too (for subclasses and tests).
// @ts-expect-error the evict event needs an EvictionEvent
publisher.emit('evict', { slot: 1 });
