// Content negotiation of WADO-RS (PS3.18 8.7.5 Acceptable Media Types, 8.7.8 Selected Media
// Type and Transfer Syntax): the media ranges of the `accept` query parameter (8.3.3.1) and of
// the Accept header, best quality first, and what each means for instances, frames and bulk data.
import type { Request } from 'express';
import { notAcceptable } from '../http/errors.ts';
import { canonicalMediaType } from '../dicom/transcode-syntaxes.ts';
import { parseMediaType } from './multipart-headers.ts';

export interface MediaRange {
  /** Lower-case type/subtype, e.g. "multipart/related" or "*\/*". */
  type: string;
  /** Lower-case names, values as sent (quotes removed). */
  parameters: Record<string, string>;
  q: number;
}

/** The media ranges a request accepts, best first (equal qualities keep their order); none when it states none. */
export function acceptedMediaRanges(req: Request): MediaRange[] {
  const query = typeof req.query.accept === 'string' ? req.query.accept : '';
  const fields = [query, req.get('accept') ?? ''].flatMap(splitOutsideQuotes).filter((field) => field.trim() !== '');
  const ranges = fields.map((field) => {
    const { type, parameters } = parseMediaType(field);
    const q = parameters.q === undefined ? 1 : Number(parameters.q);
    return { type, parameters, q: Number.isFinite(q) ? q : 1 };
  });
  return ranges.filter((range) => range.q > 0).sort((a, b) => b.q - a.q);
}

/** A field value split at the commas that separate its elements (a comma inside quotes is text). */
function splitOutsideQuotes(value: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (value[i] === ',' && !quoted) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

const MULTIPART = new Set(['multipart/related', 'multipart/*']);
const ANY = '*/*';

/** The media type of the parts a range asks for, and whether it asks for a multipart payload. */
function partsOf(range: MediaRange): { partType: string; multipart: boolean } {
  if (MULTIPART.has(range.type)) return { partType: (range.parameters.type ?? ANY).toLowerCase(), multipart: true };
  if (range.type === ANY) return { partType: ANY, multipart: true };
  return { partType: range.type, multipart: false };
}

/** A Transfer Syntax UID, "*" for any, or undefined for the media type's default. */
export type AcceptedSyntax = string | undefined;

export interface InstanceAcceptance {
  transferSyntax: AcceptedSyntax;
  multipart: boolean;
}

/**
 * PS3.18 Table 8.7.3-2: instances are application/dicom, in a multipart/related payload (or a
 * single part, for one instance). No Accept at all is the default: Explicit VR Little Endian.
 */
export function acceptedInstanceSyntaxes(ranges: MediaRange[]): InstanceAcceptance[] {
  if (ranges.length === 0) return [{ transferSyntax: undefined, multipart: true }];
  const accepted = ranges.flatMap((range) => {
    const { partType, multipart } = partsOf(range);
    if (!['application/dicom', 'application/*', ANY].includes(partType)) return [];
    if (!multipart && partType !== 'application/dicom') return [];
    return [{ transferSyntax: range.parameters['transfer-syntax'], multipart }];
  });
  if (accepted.length === 0) throw notAcceptable('DICOM instances are served as multipart/related; type="application/dicom" (or application/dicom for one instance)');
  return accepted;
}

export interface PixelAcceptance {
  /**
   * The canonical media type of the parts: "application/octet-stream" (native little endian),
   * a compressed media type, "image/*" or "video/*", or "*\/*" for anything.
   */
  mediaType: string;
  /** The name the client used for it (image/x-jls...), to answer in its own terms. */
  name: string;
  transferSyntax: AcceptedSyntax;
  multipart: boolean;
}

/** PS3.18 Table 8.7.3-4 and 8.7.3-5: frames and pixel data bulk data, native or compressed. */
export function acceptedPixelMediaTypes(ranges: MediaRange[]): PixelAcceptance[] {
  if (ranges.length === 0) return [{ mediaType: ANY, name: 'application/octet-stream', transferSyntax: undefined, multipart: true }];
  const accepted = ranges.flatMap((range) => {
    const { partType, multipart } = partsOf(range);
    const transferSyntax = range.parameters['transfer-syntax'];
    if (partType === ANY) return [{ mediaType: ANY, name: 'application/octet-stream', transferSyntax, multipart }];
    if (partType === 'application/octet-stream' || partType === 'application/*') {
      return [{ mediaType: 'application/octet-stream', name: 'application/octet-stream', transferSyntax, multipart }];
    }
    if (partType.startsWith('image/') || partType.startsWith('video/')) {
      return [{ mediaType: canonicalMediaType(partType), name: partType, transferSyntax, multipart }];
    }
    return [];
  });
  if (accepted.length === 0) {
    throw notAcceptable('pixel data is served as multipart/related; type="application/octet-stream" or a compressed image or video media type');
  }
  return accepted;
}

/** PS3.18 Table 8.7.3-4: bulk data other than pixel data is application/octet-stream, multipart or single part. */
export function acceptedBulkDataPayload(ranges: MediaRange[]): { multipart: boolean } {
  if (ranges.length === 0) return { multipart: true };
  for (const range of ranges) {
    const { partType, multipart } = partsOf(range);
    if ([ANY, 'application/octet-stream', 'application/*'].includes(partType)) return { multipart };
  }
  throw notAcceptable('bulk data is served as multipart/related; type="application/octet-stream" or application/octet-stream');
}

/** PS3.18 Table 8.7.3-3: metadata is served as application/dicom+json (the XML form is not offered). */
export function expectDicomJsonAccepted(ranges: MediaRange[]): void {
  const json = new Set(['application/dicom+json', 'application/json', 'application/*', ANY]);
  if (ranges.length > 0 && !ranges.some((range) => json.has(range.type))) {
    throw notAcceptable('metadata is served as application/dicom+json');
  }
}
