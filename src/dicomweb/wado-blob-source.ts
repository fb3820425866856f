// A stored instance's blob as a random-access source, so that the readers of src/dicom (parsing,
// inflating, transcoding) read it by byte ranges, from the file system or S3 alike.
import type { BlobStore } from '../blob/index.ts';
import type { RandomAccessSource } from '../dicom/index.ts';

export class BlobSource implements RandomAccessSource {
  constructor(private readonly blobs: BlobStore, private readonly key: string, readonly size: number) {}

  async readAt(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.size);
    if (end <= position) return Buffer.alloc(0);
    return readBlobRange(this.blobs, this.key, position, end - position, this.size);
  }
}

/** `length` bytes of blob `key` (of `blobSize` bytes) from `offset`. */
export async function readBlobRange(blobs: BlobStore, key: string, offset: number, length: number, blobSize: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.get(key, { start: offset, end: offset + length - 1 }, { blobSize })) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
