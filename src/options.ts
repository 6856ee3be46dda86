// Option validation: errors name the option, the expected form and the value.
import { constants as bufferConstants } from 'node:buffer';
import { RingcastError, invalidOption, quoteInput } from './errors.js';
import { C } from './native.js';

/** The longest message a Buffer can hold here: the upper bound of maxMessageBytes. */
export const MAX_BUFFER_LENGTH = Math.min(bufferConstants.MAX_LENGTH, Number.MAX_SAFE_INTEGER);

export type SlowConsumerPolicy = 'block' | 'drop';

export function checkPath(name: string, value: unknown): string {
  // A NUL would cut the path short in the kernel: the socket would be bound elsewhere, and never removed.
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value) > 107 || value.includes('\0')) {
    throw invalidOption(name, value, 'a non-empty socket path of at most 107 bytes, without NUL bytes');
  }
  return value;
}

export function checkInteger(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

export function checkCapacity(value: unknown, fallback = 4 * 1024 * 1024): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < C.RC_MIN_CAPACITY || value > C.RC_MAX_CAPACITY || (value & (value - 1)) !== 0) {
    throw invalidOption('capacity', value, `a power of two from ${C.RC_MIN_CAPACITY} to ${C.RC_MAX_CAPACITY}`);
  }
  return value;
}

export function checkPolicy(value: unknown): SlowConsumerPolicy {
  if (value === undefined) return 'block';
  if (value !== 'block' && value !== 'drop') throw invalidOption('policy', value, "'block' or 'drop'");
  return value;
}

/**
 * evictAfterMs unless given, for every publisher (every provider's Publisher):
 * long enough for a busy reader, short enough that a stuck one cannot hold
 * the bus.
 */
export const DEFAULT_EVICT_AFTER_MS = 5000;

/**
 * A publisher's evictAfterMs, validated: with `block`, the given value or
 * DEFAULT_EVICT_AFTER_MS, and undefined (wait forever) only when asked with
 * 0; with `drop` (it never waits) no value is allowed and none is returned.
 */
export function checkEvictAfterMs(value: unknown, policy: SlowConsumerPolicy): number | undefined {
  if (policy !== 'block') {
    if (value !== undefined) throw invalidOption('evictAfterMs', value, "no value with policy 'drop' (it never waits)");
    return undefined;
  }
  return checkInteger('evictAfterMs', value, DEFAULT_EVICT_AFTER_MS, 0, 3_600_000) || undefined;
}

export function checkIdList(name: string, value: unknown): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
    throw invalidOption(name, value, 'an array of numeric ids');
  }
  return [...value] as number[];
}

export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidOption('signal', value, 'an AbortSignal');
  return value;
}

/**
 * The option names of an options type, listed once: `Record<keyof T, true>`
 * makes the compiler refuse a list that misses one of T's keys or names a key
 * T does not have, so checkKnownOptions cannot fall behind the type.
 */
export function optionNames<T>(names: Record<keyof T, true>): readonly string[] {
  return Object.keys(names);
}

/**
 * Refuses a key of `given` that is not in `known`: a JavaScript caller's typo
 * or misplaced option would otherwise be ignored without a word. `belongsIn`
 * names, for an option that is valid one level down, where it goes (e.g.
 * `capacity` → `republish`).
 */
export function checkKnownOptions(what: string, given: object, known: readonly string[], belongsIn: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(given)) {
    if (known.includes(key)) continue;
    const where = Object.hasOwn(belongsIn, key) ? `; ${key} belongs in ${belongsIn[key]}` : '';
    throw new RingcastError('ERR_RINGCAST_INVALID_OPTION', `option ${quoteInput(key)}: not an option of ${what} (known: ${known.join(', ')})${where}`);
  }
}
