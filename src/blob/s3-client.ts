// Builds the S3 client from configuration; credentials come from the AWS default provider chain.
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Config } from '../config/index.ts';

export function createS3Client(config: S3Config, overrides: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    // The SDK's default CRC32 checksums send streamed bodies as aws-chunked uploads with trailers,
    // which many S3-compatible servers reject; integrity is covered by our own SHA-256 and TLS.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}
