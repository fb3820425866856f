// BlobStore on S3 (or an S3-compatible server): multipart streaming uploads, ranged reads, paged listing.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { Digester } from './digester.ts';
import { BlobNotFoundError, BlobRangeNotSatisfiableError } from './errors.ts';
import type { BlobHead, BlobListing, BlobRange, BlobStore, PutOptions, PutResult } from './index.ts';
import { assertValidKey, assertValidPrefix, assertValidRange } from './keys.ts';
import { uploadStream } from './s3-upload.ts';

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Keys per ListObjectsV2 request (S3 caps it at 1000). */
  pageSize?: number;
  /** Bytes per uploaded part (S3's minimum is 5 MiB); about (partsInFlight + 1) × partSize is held in memory. */
  partSize?: number;
  /** Parts uploaded concurrently. */
  partsInFlight?: number;
}

const MIB = 1024 * 1024;

function errorName(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly pageSize: number;
  private readonly partSize: number;
  private readonly partsInFlight: number;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.pageSize = options.pageSize ?? 1000;
    this.partSize = options.partSize ?? 8 * MIB;
    this.partsInFlight = options.partsInFlight ?? 3;
  }

  async putFile(key: string, file: string | Buffer, options: PutOptions = {}): Promise<void> {
    await this.put(key, typeof file === 'string' ? createReadStream(file) : file, options);
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    const digester = new Digester();
    await uploadStream({
      client: this.client,
      bucket: this.bucket,
      key,
      contentType: options.contentType,
      partSize: this.partSize,
      partsInFlight: this.partsInFlight,
    }, digester.observe(body));
    return digester.digest();
  }

  async get(key: string, range?: BlobRange): Promise<Readable> {
    assertValidKey(key);
    assertValidRange(range);
    try {
      const result = await this.client.send(new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined,
      }));
      if (!(result.Body instanceof Readable)) throw new Error('S3 returned no readable body');
      return result.Body;
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') throw new BlobNotFoundError(key);
      if (range && (errorName(error) === 'InvalidRange' || httpStatus(error) === 416)) {
        throw new BlobRangeNotSatisfiableError(key, range.start);
      }
      throw error;
    }
  }

  async head(key: string): Promise<BlobHead | undefined> {
    assertValidKey(key);
    try {
      const result = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: result.ContentLength ?? 0, contentType: result.ContentType };
    } catch (error) {
      // HEAD responses have no body, so the SDK only knows the status: "NotFound".
      if (errorName(error) === 'NotFound' || errorName(error) === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async *list(prefix: string): AsyncIterable<BlobListing> {
    assertValidPrefix(prefix);
    let continuationToken: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix || undefined,
        MaxKeys: this.pageSize,
        ContinuationToken: continuationToken,
      }));
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) };
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }
}
