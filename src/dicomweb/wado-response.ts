// WADO-RS payloads, rendered ones included (PS3.18 8.6.1.2 and 8.7.1; RFC 2387 multipart/related,
// RFC 2046 5.1.1 delimiters), streamed with backpressure; a client that goes away stops the parts
// not yet produced. Nothing is sent before the first bytes of the first
// part exist, so a failure there (an unknown blob, a frame that cannot be decoded) is still
// answered with an error status; a failure later can only cut the response short.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
    const first = await body.next();
    yield first.done ? head : Buffer.concat([head, first.value]);
    for (let next = await body.next(); !next.done; next = await body.next()) yield next.value;
    yield CRLF;
  }
  yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

async function* chunksOf(body: Body): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) yield body;
  else yield* body;
}

async function send(res: Response, contentType: string, chunks: AsyncGenerator<Buffer>): Promise<void> {
  const first = await chunks.next();
  res.status(200).set('Content-Type', contentType);
  async function* all() {
    if (!first.done) yield first.value;
    yield* chunks;
  }
  try {
    await pipeline(Readable.from(all(), { objectMode: false }), res);
  } catch (error) {
    // A client that goes away ends the response; that is no error of the server's.
    if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' && res.destroyed) return;
    throw error;
  }
}
