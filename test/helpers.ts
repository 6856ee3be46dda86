// Test helpers: real child processes and throwaway socket paths.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Publisher, type PublisherOptions } from '../src/index.js';

export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const dirs: string[] = [];

/** A socket path in a fresh directory (world-traversable, for other-uid tests). */
export function socketPath(name = 'bus.sock'): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-test-'));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return join(dir, name);
}

export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** What a test opened; `cleanup` (run it in afterEach) closes it, newest first. */
export const opened: Array<{ close(): Promise<void> }> = [];
/** Processes a test started; `cleanup` kills those still running. */
export const spawned: Array<{ kill(signal: NodeJS.Signals): boolean }> = [];

export async function cleanup(): Promise<void> {
  for (const child of spawned.splice(0)) child.kill('SIGKILL');
  for (const thing of opened.splice(0).reverse()) await thing.close();
  removeTempDirs();
}

export interface Proc {
  child: ChildProcess;
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** All stdout so far. */
  stdout(): string;
  /** Its non-empty stdout lines so far. */
  lines(): string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** For a failure message: whether it still runs or how it ended, and the end of its stderr. */
  report(): string;
}

/** A node script as a child process. */
export function run(script: string, args: string[], options: SpawnOptions = {}): Proc {
  return runCommand(process.execPath, [script, ...args], options);
}

/** Any program as a child process, its stdout watched line by line. */
export function runCommand(command: string, args: string[], options: SpawnOptions = {}): Proc {
  const script = args[0] ?? command;
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  let out = '';
  let err = '';
  const watchers: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const w of watchers.slice()) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      for (const w of watchers.slice()) w();
      resolve({ code, signal });
    }),
  );
  return {
    child,
    stdout: () => out,
    lines: () => out.split('\n').filter(Boolean),
    stderr: () => err,
    exited,
    report() {
      const { exitCode, signalCode } = child;
      const status = signalCode !== null ? `killed by ${signalCode}` : exitCode !== null ? `exited ${exitCode}` : 'running';
      return `${script} (pid ${child.pid}): ${status}; stderr: ${err.slice(-1500) || '(empty)'}`;
    },
    line(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${pattern} from ${script}; stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`));
        }, timeoutMs);
        const check = (): void => {
          const found = out.split('\n').find((l) => pattern.test(l));
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${script} exited before ${pattern}; stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`));
          }
        };
        const done = (): void => {
          clearTimeout(timer);
          const i = watchers.indexOf(check);
          if (i >= 0) watchers.splice(i, 1);
        };
        watchers.push(check);
        check();
      });
    },
  };
}

export function fixture(name: string, args: string[], options: SpawnOptions = {}): Proc {
  return run(join(fixtures, name), args, options);
}

/**
 * Numbered messages (one implementation, shared with the fixture processes):
 * numbered(seq, size) carries its sequence number and its length;
 * isNumbered(message, seq) holds only for the whole message, so a truncated
 * one fails.
 */
export { numbered, intactNumbered as isNumbered, NUMBERED_MIN_SIZE } from './fixtures/numbered.mjs';

/** A publisher on a fresh socket path with a small (64 KiB) ring, closed by `cleanup`. */
export async function listen(options: Partial<PublisherOptions> = {}): Promise<{ path: string; publisher: Publisher }> {
  const path = socketPath();
  const publisher = await Publisher.listen({ path, capacity: 1 << 16, ...options } as PublisherOptions);
  opened.push(publisher);
  return { path, publisher };
}
