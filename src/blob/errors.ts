// Typed failures of blob storage, so callers can map them to HTTP statuses without string matching.

export class BlobNotFoundError extends Error {
  override readonly name = 'BlobNotFoundError';
  constructor(readonly key: string) {
    super(`no blob stored under "${key}"`);
  }
}

export class InvalidBlobKeyError extends Error {
  override readonly name = 'InvalidBlobKeyError';
  constructor(readonly key: string, reason: string) {
    super(`invalid blob key "${key}": ${reason}`);
  }
}

/** The requested range starts at or beyond the end of the blob (HTTP 416). */
export class BlobRangeNotSatisfiableError extends Error {
  override readonly name = 'BlobRangeNotSatisfiableError';
  constructor(readonly key: string, readonly start: number) {
    super(`range starting at byte ${start} is outside blob "${key}"`);
  }
}
