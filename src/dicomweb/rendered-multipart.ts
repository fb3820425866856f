// Answers of several rendered images: multipart/related (RFC 2387, PS3.18 8.6.1.2) with one image
// per part, each written as soon as it is rendered.
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';

export interface RenderedPart {
  body: Buffer;
  /** The resource the part renders (Content-Location). */
  location?: string;
}

/**
 * Sends `parts` (media type `type` each). An error after the first byte aborts the response; a
 * client that goes away stops the rendering of the parts not yet sent.
 */
export async function sendMultipartRelated(res: Response, type: string, parts: AsyncIterable<RenderedPart>): Promise<void> {
  const boundary = randomUUID();
  res.status(200).set('Content-Type', `multipart/related; type="${type}"; boundary=${boundary}`);
  for await (const part of parts) {
    if (res.destroyed) return;
    res.write(`--${boundary}\r\nContent-Type: ${type}\r\n${part.location ? `Content-Location: ${part.location}\r\n` : ''}\r\n`);
    const flushed = res.write(part.body);
    res.write('\r\n');
    if (!flushed) await drained(res);
  }
  res.end(`--${boundary}--\r\n`);
}

const drained = (res: Response) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
