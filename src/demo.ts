// `ringcast demo`: one publisher (this process) and N subscriber processes on
// one bus; every message carries its sequence number and a CRC-32 of its body,
// and every subscriber checks it got each message once, in order, intact.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

import { Publisher } from './publisher.js';
import { Subscriber } from './subscriber.js';

/** Largest --size: a demo message is built whole in memory, by the publisher and by each subscriber. */
export const DEMO_MAX_SIZE = 16 * 1024 * 1024;

export interface DemoOptions {
  subscribers: number;
  messages: number;
  size: number;
  /** Ring capacity (default: the library's). */
  capacity?: number;
  /** Most messages per publishBatch (default 256); a batch also stops at BATCH_BYTES. */
  batch?: number;
  /** Stops the demo: subscriber processes are killed, the socket directory removed, the promise rejects. */
  signal?: AbortSignal;
}

export interface DemoSubscriberResult {
  received: number;
  lost: number;
  inOrder: boolean;
  checksumOk: boolean;
  error?: string;
  exitCode?: number | null;
}

export interface DemoResult {
  ok: boolean;
  messages: number;
  size: number;
  seconds: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  /** Peak resident memory of the publisher's process (bounded: messages are built a batch at a time). */
  publisherMaxRssBytes: number;
  subscribers: DemoSubscriberResult[];
}

/** Header of a demo message: u32 sequence, u32 CRC-32 of the body that follows. */
const HEADER = 8;
/** Distinct bodies, reused in turn; fewer for large sizes so they stay within BODY_BYTES. */
const BODY_VARIANTS = 64;
const BODY_BYTES = 64 * 1024 * 1024;
/** Bytes of messages built ahead of publishing: memory stays bounded whatever --size × --messages is. */
const BATCH_BYTES = 8 * 1024 * 1024;

function bodies(size: number): Buffer[] {
  const list: Buffer[] = [];
  const variants = Math.max(1, Math.min(BODY_VARIANTS, Math.floor(BODY_BYTES / size)));
  for (let v = 0; v < variants; v++) {
    const body = Buffer.alloc(size - HEADER);
    let x = (v + 1) * 2654435761;
    for (let i = 0; i < body.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      body[i] = x >>> 24;
    }
    list.push(body);
  }
  return list;
}

export async function runDemo(options: DemoOptions, onProgress?: (line: string) => void): Promise<DemoResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-demo-'));
  const path = join(dir, 'bus.sock');
  let publisher: Publisher;
  try {
    publisher = await Publisher.listen({ path, ...(options.capacity !== undefined && { capacity: options.capacity }) });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const signal = options.signal;
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const children = Array.from({ length: options.subscribers }, () =>
    spawn(process.execPath, [cli, 'demo-subscriber', path, String(options.messages)], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  // Whatever ends the demo (done, failed, interrupted), the children and the socket directory go with it.
  const stopChildren = (): void => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  signal?.addEventListener('abort', stopChildren, { once: true });
  const results = children.map(
    (child) =>
      new Promise<DemoSubscriberResult>((resolve) => {
        let out = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => (out += chunk));
        child.on('close', (exitCode) => {
          const last = out.trim().split('\n').pop() ?? '';
          try {
            resolve({ ...(JSON.parse(last) as DemoSubscriberResult), exitCode });
          } catch {
            resolve({ received: 0, lost: options.messages, inOrder: false, checksumOk: false, error: 'no result', exitCode });
          }
        });
      }),
  );

  try {
    await new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted();
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      const check = (): void => {
        if (publisher.subscriberCount >= options.subscribers) {
          publisher.off('subscribe', check);
          resolve();
        }
      };
      publisher.on('subscribe', check);
      for (const child of children) child.once('exit', () => reject(new Error('a subscriber process exited before attaching')));
      check();
    });
    onProgress?.(`${options.subscribers} subscriber processes attached; publishing ${options.messages} × ${options.size} B`);

    const variants = bodies(options.size);
    const crcs = variants.map((body) => crc32(body));
    const batchCount = Math.max(1, Math.min(options.batch ?? 256, Math.floor(BATCH_BYTES / options.size)));
    const started = performance.now();
    const batch: Buffer[] = [];
    for (let seq = 0; seq < options.messages; seq++) {
      const variant = seq % variants.length;
      const message = Buffer.allocUnsafe(options.size);
      message.writeUInt32LE(seq, 0);
      message.writeUInt32LE(crcs[variant]!, 4);
      variants[variant]!.copy(message, HEADER);
      batch.push(message);
      if (batch.length === batchCount || seq === options.messages - 1) {
        await publisher.publishBatch(batch, { signal });
        batch.length = 0;
      }
    }
    await publisher.close();
    const subscribers = await Promise.all(results);
    const seconds = (performance.now() - started) / 1000;
    const ok = subscribers.every((s) => s.exitCode === 0 && s.lost === 0 && s.inOrder && s.checksumOk && s.received === options.messages);
    return {
      ok,
      messages: options.messages,
      size: options.size,
      seconds,
      messagesPerSecond: options.messages / seconds,
      megabytesPerSecond: (options.messages * options.size) / seconds / 1e6,
      publisherMaxRssBytes: process.resourceUsage().maxRSS * 1024,
      subscribers,
    };
  } finally {
    stopChildren();
    await publisher.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The subscriber process of the demo: prints one JSON line with what it saw. */
export async function runDemoSubscriber(path: string, expected: number): Promise<DemoSubscriberResult> {
  const subscriber = await Subscriber.connect({ path });
  let received = 0;
  let inOrder = true;
  let checksumOk = true;
  let error: string | undefined;
  try {
    for await (const message of subscriber) {
      if (message.length < HEADER || message.readUInt32LE(0) !== received) inOrder = false;
      if (message.length < HEADER || crc32(message.subarray(HEADER)) !== message.readUInt32LE(4)) checksumOk = false;
      received++;
    }
  } catch (e) {
    error = `${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}`;
  } finally {
    await subscriber.close();
  }
  return { received, lost: Math.max(0, expected - received), inOrder, checksumOk, ...(error ? { error } : {}) };
}
