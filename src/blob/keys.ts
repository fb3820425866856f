// Validation of caller-supplied keys, list prefixes and byte ranges; no valid key can name a path outside the storage root.
import { InvalidBlobKeyError } from './errors.ts';
import type { BlobRange } from './index.ts';

const KEY_CHARACTERS = /^[A-Za-z0-9/_.=-]*$/;
const MAX_KEY_LENGTH = 1024; // S3's limit; also keeps file paths sane

function prefixProblem(value: string): string | undefined {
  if (!KEY_CHARACTERS.test(value)) return 'only A-Z a-z 0-9 / _ . = - are allowed';
  if (value.length > MAX_KEY_LENGTH) return `longer than ${MAX_KEY_LENGTH} characters`;
  if (value.startsWith('/')) return 'must not start with "/"';
  if (value.includes('..')) return 'must not contain ".."';
  if (value.includes('//')) return 'must not contain empty path segments';
  if (value.split('/').includes('.')) return 'must not contain "." segments';
  return undefined;
}

function keyProblem(key: string): string | undefined {
  if (key === '') return 'must not be empty';
  if (key.endsWith('/')) return 'must not end with "/"';
  return prefixProblem(key);
}

export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem) throw new InvalidBlobKeyError(key, problem);
}

/** A prefix is a key's beginning: it may be empty, end with "/" or stop mid-segment. */
export function assertValidPrefix(prefix: string): void {
  const problem = prefixProblem(prefix);
  if (problem) throw new InvalidBlobKeyError(prefix, problem);
}

export function assertValidRange(range: BlobRange | undefined): void {
  if (!range) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`range start must be a non-negative integer, got ${start}`);
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new RangeError(`range end must be an integer not below the start (${start}), got ${end}`);
  }
}
