// DICOM sample files (../shared/dicom-samples) and ways to put them on a test server.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import type supertest from 'supertest';
import { parseInstanceFile } from '../../src/dicom/index.ts';
import { InstanceIngest, type StoreResult } from '../../src/dicomweb/ingest.ts';
import type { Services } from '../../src/services.ts';

export const SAMPLES = path.join(import.meta.dirname, '../../../shared/dicom-samples');
export const PYDICOM = path.join(SAMPLES, 'pydicom');
export const SYNTHETIC_PATIENT = path.join(SAMPLES, 'synthetic/basic/D1-000001');
export const SYNTHETIC_MULTIFRAME = path.join(SAMPLES, 'synthetic/ct-multiframe/D2-000001/01-ct/001-0001.dcm');

/** The .dcm files under `directory`, recursively, sorted by path. */
export function dicomFilesIn(directory: string): string[] {
  return fs.readdirSync(directory, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.dcm')).sort().map((name) => path.join(directory, name));
}

export const pydicomFile = (name: string) => path.join(PYDICOM, name);
/** The synthetic dental study of one kind: 01-io (4 bitewings), 02-px, 03-ct (16 slices), 04-xc (2 photos). */
export const syntheticStudy = (kind: '01-io' | '02-px' | '03-ct' | '04-xc') => dicomFilesIn(path.join(SYNTHETIC_PATIENT, kind));

export function spooledFile(file: string) {
  const bytes = fs.readFileSync(file);
  return { path: file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Stores `files` for the tenant straight through the ingest path (no HTTP), e.g. to set up QIDO or WADO tests. */
export async function storeFiles(services: Services, tenantId: string, files: string[]): Promise<StoreResult[]> {
  const ingest = new InstanceIngest(services.db, services.blobs);
  const results: StoreResult[] = [];
  for (const file of files) {
    results.push(await ingest.store({ tenantId, audit: { actorType: 'SYSTEM' } }, await parseInstanceFile(file), spooledFile(file)));
  }
  return results;
}

export interface BodyPart {
  bytes: Buffer;
  /** Sent as the part's Content-Type; none when null. */
  contentType?: string | null;
}

/** A multipart/related body (RFC 2046 5.1) of `parts`, each application/dicom unless it says otherwise. */
export function multipartRelated(parts: BodyPart[], boundary = 'cusp-test-boundary'): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) {
    const contentType = part.contentType === undefined ? 'application/dicom' : part.contentType;
    pieces.push(Buffer.from(`--${boundary}\r\n${contentType === null ? '' : `Content-Type: ${contentType}\r\n`}\r\n`), part.bytes, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

export const stowContentType = (boundary = 'cusp-test-boundary') => `multipart/related; type="application/dicom"; boundary=${boundary}`;

/** The DICOMwebClient methods, typed loosely: the package's own declarations disagree with its code (e.g. media types, frame numbers). */
export type DicomwebClient = Record<
  | 'storeInstances' | 'searchForStudies' | 'searchForSeries' | 'searchForInstances'
  | 'retrieveStudy' | 'retrieveSeries' | 'retrieveInstance' | 'retrieveStudyMetadata' | 'retrieveSeriesMetadata' | 'retrieveInstanceMetadata'
  | 'retrieveInstanceFrames' | 'retrieveBulkData' | 'retrieveInstanceRendered' | 'retrieveInstanceFramesRendered' | 'retrieveInstanceThumbnail',
  (options?: Record<string, unknown>) => Promise<any>
>;

/**
 * A dicomweb-client DICOMwebClient for the server at `baseUrl` (its /dicomweb service) with a
 * Bearer token. In Node the client needs an XMLHttpRequest: xhr2 provides it.
 */
export async function dicomwebClient(baseUrl: string, token: string): Promise<DicomwebClient> {
  const [{ default: XMLHttpRequest }, { api }] = await Promise.all([import('xhr2'), import('dicomweb-client')]);
  (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = XMLHttpRequest;
  const client = new api.DICOMwebClient({ url: `${baseUrl}/dicomweb`, headers: { Authorization: `Bearer ${token}` }, singlepart: false });
  return client as unknown as DicomwebClient;
}

const modifiedCopies = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-dcmodify-'));
process.on('exit', () => fs.rmSync(modifiedCopies, { recursive: true, force: true }));

/** A copy of `file`, named `name`, with DCMTK's dcmodify arguments applied (e.g. '-ea', '(0008,0018)'; '-gin' for a new SOP Instance UID). */
export function modifiedCopy(file: string, name: string, ...args: string[]): string {
  const copy = path.join(modifiedCopies, name);
  fs.copyFileSync(file, copy);
  fs.chmodSync(copy, 0o644);
  execFileSync('dcmodify', ['-nb', ...args, copy]);
  return copy;
}

// ---- reading responses ----------------------------------------------------------------------------

export interface BodyPartRead {
  headers: Record<string, string>;
  body: Buffer;
}

/** Reads a response body as bytes, whatever its media type (supertest's `.parse`). */
export function binaryBody(res: supertest.Response, done: (error: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => done(null, Buffer.concat(chunks)));
}

/** The request with its response body read as bytes. */
export const asBinary = (request: supertest.Test) => request.buffer(true).parse(binaryBody);

/** RFC 2046 5.1.1: the parts of a multipart body, by the boundary its Content-Type names. */
export function multipartParts(body: Buffer, contentType: string): BodyPartRead[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  assert.ok(boundary, `a multipart Content-Type with a boundary: ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: BodyPartRead[] = [];
  let at = body.indexOf(delimiter);
  assert.equal(at, 0, 'the body starts with the first delimiter');
  for (;;) {
    const afterDelimiter = at + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', afterDelimiter);
    const headers = Object.fromEntries(body.subarray(afterDelimiter + 2, headerEnd).toString('latin1').split('\r\n')
      .map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
    assert.ok(next > 0, 'every part is closed by a delimiter');
    parts.push({ headers, body: body.subarray(headerEnd + 4, next) });
    at = next + 2;
  }
  return parts;
}
