// Process-wide protection a ringcast party may ask for (docs/security.md, "Same uid").
import { native } from './native.js';

/**
 * Makes this process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): processes of
 * its own uid can no longer ptrace it or open its `/proc/<pid>/mem`, `fd`
 * or `map_files`, so they cannot reach its memory (a publisher's ring, a
 * subscriber's ack page) through them. It costs core dumps, attaching a
 * debugger or `strace` as that uid, and what tools like `lsof` see of it;
 * root (CAP_SYS_PTRACE) keeps every right. Lasts until the process execs.
 */
export function refuseSameUidAccess(): void {
  native.refuseSameUidAccess();
}
