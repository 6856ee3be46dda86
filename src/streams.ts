// Node stream adapters over the message API. One chunk is one message; in
// byte mode (objectMode false) Node may merge chunks, which is what a byte
// stream wants.
import { Duplex, Readable, Writable } from 'node:stream';
import { invalidOption } from './errors.js';
import { checkInteger } from './options.js';

export interface MessageSource {
  recv(options?: { signal?: AbortSignal }): Promise<Buffer | null>;
  tryRecv(): Buffer | null | undefined;
}

export interface MessageSink {
  publish(message: Uint8Array): Promise<void>;
  publishBatch(messages: readonly Uint8Array[]): Promise<void>;
}

export interface StreamOptions {
  /** Keep message boundaries (default true for buses, false for channel byte streams). */
  objectMode?: boolean;
  highWaterMark?: number;
}

/** Checked here so that a bad value is a RingcastError, not the TypeError Node's stream constructors throw. */
function checkStreamOptions(options: StreamOptions): void {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  if (options.highWaterMark !== undefined) checkInteger('highWaterMark', options.highWaterMark, 0, 0, 2 ** 31 - 1);
  if (options.objectMode !== undefined && typeof options.objectMode !== 'boolean') throw invalidOption('objectMode', options.objectMode, 'a boolean');
}

export function readableFrom(source: MessageSource, options: StreamOptions = {}): Readable {
  checkStreamOptions(options);
  const controller = new AbortController();
  const stream = new Readable({
    objectMode: options.objectMode ?? true,
    highWaterMark: options.highWaterMark ?? (options.objectMode === false ? 1 << 20 : 64),
    read() {
      source.recv({ signal: controller.signal }).then(
        (message) => {
          if (!stream.push(message) || message === null) return;
          // Hand over whatever else is ready without another round trip.
          // tryRecv() throws what recv() would reject with (an eviction):
          // the stream's error, not a rejection nobody handles.
          let more: Buffer | null | undefined;
          try {
            while ((more = source.tryRecv()) !== undefined) if (!stream.push(more) || more === null) return;
          } catch (error) {
            stream.destroy(error as Error);
          }
        },
        (error: unknown) => stream.destroy(error as Error),
      );
    },
    destroy(error, callback) {
      controller.abort();
      callback(error);
    },
  });
  return stream;
}

export function writableTo(sink: MessageSink, onFinal?: () => Promise<void>, options: StreamOptions = {}): Writable {
  checkStreamOptions(options);
  return new Writable({
    objectMode: options.objectMode ?? false,
    highWaterMark: options.highWaterMark,
    // publish() throws at the call on what it refuses (a closed publisher, a
    // chunk that is not bytes): handed to the callback, that is the stream's
    // error, not an exception out of whoever called write().
    write(chunk: Buffer, _encoding, callback) {
      settle(() => sink.publish(chunk), callback);
    },
    writev(chunks, callback) {
      settle(() => sink.publishBatch(chunks.map((c) => c.chunk as Buffer)), callback);
    },
    final(callback) {
      if (!onFinal) return callback();
      onFinal().then(() => callback(), callback);
    },
  });
}

function settle(start: () => Promise<void>, callback: (error?: Error | null) => void): void {
  let started: Promise<void>;
  try {
    started = start();
  } catch (error) {
    callback(error as Error);
    return;
  }
  started.then(() => callback(), callback);
}

export function duplexOf(source: MessageSource, sink: MessageSink, onFinal: () => Promise<void>): Duplex {
  return Duplex.from({
    readable: readableFrom(source, { objectMode: false }),
    writable: writableTo(sink, onFinal),
  });
}
