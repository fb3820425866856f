// WADO-RS payloads, rendered ones included (PS3.18 8.6.1.2 and 8.7.1; RFC 2387 multipart/related,
// RFC 2046 5.1.1 delimiters), streamed with backpressure; a client that goes away stops the parts
// not yet produced. Nothing is sent before the first 256 KiB of the body exist (a smaller body goes
// out whole, in one write), so a failure there (an unknown blob, a frame that cannot be decoded)
// is still answered with an error status; a failure later can only cut the response short.
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';

export type Body = Buffer | AsyncIterable<Buffer>;

export interface ResponsePart {
  /** The part's Content-Type, parameters included. */
  contentType: string;
  body: Body;
  /** The resource the part holds (Content-Location), where a part needs naming. */
  location?: string;
}

const CRLF = Buffer.from('\r\n');

/** A multipart/related response whose parts are of media type `partType`. */
export async function sendMultipart(res: Response, partType: string, parts: Iterable<ResponsePart> | AsyncIterable<ResponsePart>): Promise<void> {
  const boundary = randomUUID();
  await send(res, `multipart/related; type="${partType}"; boundary=${boundary}`, multipartBody(boundary, parts));
}

/** A single-part response. */
export async function sendSinglePart(res: Response, contentType: string, body: Body): Promise<void> {
  await send(res, contentType, chunksOf(body));
}

async function* multipartBody(boundary: string, parts: Iterable<ResponsePart> | AsyncIterable<ResponsePart>): AsyncGenerator<Buffer> {
  for await (const part of parts) {
    const location = part.location === undefined ? '' : `Content-Location: ${part.location}\r\n`;
    const head = Buffer.from(`--${boundary}\r\nContent-Type: ${part.contentType}\r\n${location}\r\n`, 'latin1');
    // The part's header goes out with its first bytes: they exist before anything is sent.
    const body = chunksOf(part.body)[Symbol.asyncIterator]();
    try {
      const first = await body.next();
      yield first.done ? head : Buffer.concat([head, first.value]);
      for (let next = await body.next(); !next.done; next = await body.next()) yield next.value;
    } finally {
      await body.return(undefined); // when the response stops early: the part's source (a blob) is closed
    }
    yield CRLF;
  }
  yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

async function* chunksOf(body: Body): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) yield body;
  else yield* body;
}

/** A body up to this size is gathered and sent in one write, with its Content-Length; a larger one streams. */
const WHOLE_BODY_BYTES = 256 * 1024;

class ClientGone extends Error {}

async function send(res: Response, contentType: string, chunks: AsyncGenerator<Buffer>): Promise<void> {
  try {
    const gathered: Buffer[] = [];
    let size = 0;
    let next = await chunks.next();
    for (; !next.done && size < WHOLE_BODY_BYTES; next = await chunks.next()) {
      gathered.push(next.value);
      size += next.value.length;
    }
    res.status(200).set('Content-Type', contentType);
    if (next.done) {
      res.end(Buffer.concat(gathered, size));
      return;
    }
    try {
      for (const chunk of gathered) await write(res, chunk);
      for (; !next.done; next = await chunks.next()) await write(res, next.value);
      res.end();
    } catch (error) {
      // A client that goes away ends the response; that is no error of the server's.
      if (error instanceof ClientGone) return;
      res.destroy();
      throw error;
    }
  } finally {
    await chunks.return(undefined); // stops the parts not yet produced, and closes their blobs
  }
}

/** Writes `chunk`, waiting while the client is slower than the server. */
async function write(res: Response, chunk: Buffer): Promise<void> {
  if (res.destroyed) throw new ClientGone();
  if (res.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new ClientGone());
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
