// Blob storage for DICOM instances and other binaries: the BlobStore contract and the backend factory.
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Config } from '../config/index.ts';
import { CachedBlobStore } from './cache.ts';
import { FsBlobStore } from './fs-store.ts';
import { createS3Client } from './s3-client.ts';
import { S3BlobStore } from './s3-store.ts';

export { BlobNotFoundError, BlobRangeNotSatisfiableError, InvalidBlobKeyError } from './errors.ts';
export { CachedBlobStore, type BlobCacheOptions } from './cache.ts';
export { FsBlobStore } from './fs-store.ts';
export { S3BlobStore, type S3BlobStoreOptions } from './s3-store.ts';
export { createS3Client } from './s3-client.ts';

/** Byte range with an inclusive end, as in HTTP Range; without `end` it runs to the end of the blob. */
export interface BlobRange {
  start: number;
  end?: number;
}

export interface ReadHint {
  /** The whole blob's size, where the caller knows it: a cache may read a small blob whole for a range of it, and keep it. */
  blobSize?: number;
}

export interface PutOptions {
  contentType?: string;
}

export interface PutResult {
  size: number;
  /** Lower-case hex SHA-256 of the stored bytes. */
  sha256: string;
}

export interface BlobHead {
  size: number;
  /** Only backends that keep metadata report it (S3 does, the file system does not). */
  contentType?: string;
}

export interface BlobListing {
  key: string;
  size: number;
  /** When the blob's bytes were last written. */
  lastModified: Date;
}

/**
 * Keys are caller-chosen, "/"-separated strings of [A-Za-z0-9/_.=-] without ".." or a leading
 * "/"; anything else is rejected with InvalidBlobKeyError.
 */
export interface BlobStore {
  /** Streams `body` into storage; the object appears under `key` only once it is complete. */
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<PutResult>;
  /**
   * Stores a received file under `key`, as put does, without measuring it (its receiver has): the
   * path of a local file, or its bytes when they are held in memory. The caller may remove the
   * file afterwards but must not change it: the file-system store links it rather than copy it.
   */
  putFile(key: string, file: string | Buffer, options?: PutOptions): Promise<void>;
  /** Throws BlobNotFoundError when missing, BlobRangeNotSatisfiableError when `range` starts past the end. */
  get(key: string, range?: BlobRange, hint?: ReadHint): Promise<Readable>;
  head(key: string): Promise<BlobHead | undefined>;
  /** Deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Every blob whose key starts with `prefix`, in no guaranteed order. */
  list(prefix: string): AsyncIterable<BlobListing>;
}

export function createBlobStore(config: Config): BlobStore {
  const store = backendOf(config);
  return config.blobCacheBytes > 0 ? new CachedBlobStore(store, { maxBytes: config.blobCacheBytes }) : store;
}

function backendOf(config: Config): BlobStore {
  if (config.blobStore === 'fs') return new FsBlobStore(path.join(config.dataDir, 'blobs'));
  if (!config.s3) throw new Error('BLOB_STORE=s3 needs the S3 settings (S3_BUCKET, ...)');
  return new S3BlobStore({ client: createS3Client(config.s3), bucket: config.s3.bucket });
}
