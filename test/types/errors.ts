// Type tests (see events.ts): error codes are a closed union.
import { RingcastError, type RingcastErrorCode } from 'ringcast';

export function handle(error: unknown): string {
  if (!(error instanceof RingcastError)) return 'other';
  const code: RingcastErrorCode = error.code;
  switch (code) {
    case 'ERR_RINGCAST_PUBLISHER_ABORTED':
    case 'ERR_RINGCAST_NO_ADDON':
    case 'ERR_RINGCAST_NATIVE':
    case 'ERR_RINGCAST_MESSAGE_TOO_LONG':
      return code;
    // @ts-expect-error not a code ringcast has
    case 'ERR_RINGCAST_EVICTD':
      return 'typo';
    default:
      return 'known';
  }
}
