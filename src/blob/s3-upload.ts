// Streams a body of unknown length into one S3 object: a single PutObject when it fits in one part,
// otherwise a multipart upload with a bounded number of parts in memory, aborted on any failure.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

export interface StreamUploadTarget {
  client: S3Client;
  bucket: string;
  key: string;
  contentType?: string;
  /** Bytes collected before a part is sent; every part but the last must be at least 5 MiB. */
  partSize: number;
  /** Parts in flight at once; memory use is about (partsInFlight + 1) × partSize. */
  partsInFlight: number;
}

export async function uploadStream(target: StreamUploadTarget, source: AsyncIterable<Buffer>): Promise<void> {
  const { client, bucket: Bucket, key: Key, contentType: ContentType } = target;
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  const takeBuffered = (): Buffer => {
    const part = Buffer.concat(buffered, bufferedBytes);
    buffered = [];
    bufferedBytes = 0;
    return part;
  };

  let uploadId: string | undefined;
  let partsStarted = 0;
  const completed: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let partFailure: { error: unknown } | undefined;

  const sendPart = (body: Buffer): void => {
    const PartNumber = ++partsStarted;
    const sending: Promise<void> = client
      .send(new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber, Body: body }))
      .then(
        ({ ETag }) => { completed.push({ PartNumber, ETag }); },
        (error: unknown) => { partFailure ??= { error }; },
      )
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  };

  try {
    for await (const chunk of source) {
      buffered.push(chunk);
      bufferedBytes += chunk.length;
      if (bufferedBytes < target.partSize) continue;
      if (uploadId === undefined) {
        ({ UploadId: uploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key, ContentType })));
        if (!uploadId) throw new Error('S3 started a multipart upload without an upload id');
      }
      while (inFlight.size >= target.partsInFlight) await Promise.race(inFlight);
      if (partFailure) throw partFailure.error;
      sendPart(takeBuffered());
    }

    if (uploadId === undefined) {
      await client.send(new PutObjectCommand({ Bucket, Key, ContentType, Body: takeBuffered() }));
      return;
    }
    if (bufferedBytes > 0) sendPart(takeBuffered());
    await Promise.all(inFlight);
    if (partFailure) throw partFailure.error;
    completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(new CompleteMultipartUploadCommand({
      Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: completed },
    }));
  } catch (error) {
    if (uploadId !== undefined) {
      await Promise.allSettled(inFlight); // parts still arriving after an abort would be kept
      // An abort that fails too must not hide the original error; a bucket lifecycle rule
      // (AbortIncompleteMultipartUpload) removes parts that are left behind.
      await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId })).catch(() => {});
    }
    throw error;
  }
}
