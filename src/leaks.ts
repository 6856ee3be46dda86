// Releasing what an application forgot to close.
//
// An object registered here is released when it is garbage-collected unclosed,
// with a process warning naming it. For that to be possible, nothing that
// lives on its own may hold the object strongly: a libuv watcher's callback
// or a timer of the object reaches it through a WeakRef. While an operation
// is pending (an awaited recv(), a handshake) the caller's continuation hangs
// off the object itself; `pending()` roots it here for that time, so an
// object nobody references but somebody awaits is never collected under them.

/** What is left to release, and how; it must not reference the object it belongs to. */
export interface Leftovers {
  /** Names the object in the warning, e.g. "Subscriber of /run/bus.sock (slot 3)". */
  describe(): string;
  release(): void;
}

export const LEAK_WARNING_CODE = 'RINGCAST_UNCLOSED';

const registry = new FinalizationRegistry<Leftovers>((leftovers) => {
  try {
    leftovers.release();
  } finally {
    process.emitWarning(`${leftovers.describe()} was garbage-collected without close(); its resources were released now. Call close() when done with it.`, {
      code: LEAK_WARNING_CODE,
    });
  }
});

/** Release `leftovers` if `owner` is collected before `forget(owner)`. */
export function releaseIfLeaked(owner: object, leftovers: Leftovers): void {
  registry.register(owner, leftovers, owner);
}

/** `owner` was closed: nothing to release on collection. */
export function forget(owner: object): void {
  registry.unregister(owner);
}

const roots = new Set<{ owner: object }>();

/** Keeps `owner` reachable until the returned function is called. */
export function hold(owner: object): () => void {
  const root = { owner };
  roots.add(root);
  return () => roots.delete(root);
}

/** Keeps `owner` reachable until `operation` settles. */
export async function pending<T>(owner: object, operation: Promise<T>): Promise<T> {
  const release = hold(owner);
  try {
    return await operation;
  } finally {
    release();
  }
}

/**
 * A callback for something that lives on its own (a watcher, a timer): it
 * reaches `owner` through a WeakRef and does nothing once owner is collected.
 * `call` must not capture owner itself.
 */
export function weakly<T extends object, A extends unknown[]>(owner: T, call: (owner: T, ...args: A) => void): (...args: A) => void {
  const ref = new WeakRef(owner);
  return (...args) => {
    const target = ref.deref();
    if (target) call(target, ...args);
  };
}
