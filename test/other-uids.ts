// Fixture processes of other uids (the tests run as root and drop to these).
import { spawnSync, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, run, spawned, type Proc } from './helpers.js';

export const NOBODY = 65534;
export const OTHER = 65533;

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** Why fixtures cannot run as `uids` here, or null. */
export function otherUidsUnavailable(uids: number[] = [NOBODY, OTHER]): string | null {
  if (process.getuid?.() !== 0) return 'not root: cannot start processes of other uids';
  for (const uid of uids) {
    const readable = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(dist)})`], { uid, gid: uid });
    if (readable.status !== 0) return `the repository is not readable by uid ${uid}`;
  }
  return null;
}

/** test/fixtures/<script> as a process of `uid` (killed by cleanup()). */
export function runAs(uid: number, script: string, args: string[], options: SpawnOptions = {}): Proc {
  const proc = run(join(fixtures, script), args, { ...options, uid, gid: uid });
  spawned.push(proc.child);
  return proc;
}
