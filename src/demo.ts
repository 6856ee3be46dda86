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

export interface DemoOptions {
  subscribers: number;
  messages: number;
  size: number;
  capacity: number;
  batch: number;
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
  subscribers: DemoSubscriberResult[];
}

/** Header of a demo message: u32 sequence, u32 CRC-32 of the body that follows. */
const HEADER = 8;
const BODY_VARIANTS = 64;

function bodies(size: number): Buffer[] {
  const list: Buffer[] = [];
  for (let v = 0; v < BODY_VARIANTS; v++) {
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
  const publisher = await Publisher.listen({ path, capacity: options.capacity });
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const children = Array.from({ length: options.subscribers }, () =>
    spawn(process.execPath, [cli, 'demo-subscriber', path, String(options.messages)], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
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
    const started = performance.now();
    const batch: Buffer[] = [];
    for (let seq = 0; seq < options.messages; seq++) {
      const message = Buffer.allocUnsafe(options.size);
      message.writeUInt32LE(seq, 0);
      message.writeUInt32LE(crcs[seq % BODY_VARIANTS]!, 4);
      variants[seq % BODY_VARIANTS]!.copy(message, HEADER);
      batch.push(message);
      if (batch.length === options.batch || seq === options.messages - 1) {
        await publisher.publishBatch(batch);
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
      subscribers,
    };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
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
