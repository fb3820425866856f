// Content negotiation of the DICOMweb services (QIDO-RS, STOW-RS and WADO-RS, rendered resources included) (PS3.18 8.7.5 Acceptable Media
// Types, 8.7.8 Selected Media Type and Transfer Syntax): the media ranges of the `accept` query
// parameter (8.3.3.1) or else of the Accept header, their qualities (RFC 9110 12.5.1), and what
// each means for instances, frames, bulk data, metadata and rendered images.
import type { Request } from 'express';
import { badRequest, notAcceptable } from '../http/errors.ts';
import { canonicalMediaType } from '../dicom/transcode-syntaxes.ts';
import { DICOM_XML_MEDIA_TYPE } from '../dicom/native-xml.ts';
import { parseMediaType } from './multipart-headers.ts';

export interface MediaRange {
  /** Lower-case type/subtype of the parts asked for: a multipart/related range stands for its `type` parameter; "*\/*" for anything. */
  partType: string;
  /** Whether the range asks for a multipart payload (multipart/related, multipart/*, or *\/*). */
  multipart: boolean;
  /** Lower-case names, values as sent (quotes removed); `q` and a multipart range's `type` are left out. */
  parameters: Record<string, string>;
  /** 0 to 1; 0 refuses what the range matches. */
  q: number;
}

const ANY = '*/*';
const MULTIPART = new Set(['multipart/related', 'multipart/*']);

/** The media ranges a request states, best first (equal qualities keep their order), refusals (q=0) included; none when it states none. */
export function acceptedMediaRanges(req: Request): MediaRange[] {
  return parseAccept(acceptOf(req) ?? '');
}

/** PS3.18 8.3.3.1: the accept query parameter, when present, replaces the Accept header. */
function acceptOf(req: Request): string | undefined {
  const parameter = req.query.accept;
  if (parameter === undefined) return req.get('accept');
  if (Array.isArray(parameter)) return parameter.map(String).join(',');
  if (typeof parameter !== 'string') throw badRequest('the accept query parameter must be media types', 'accept');
  return parameter;
}

/** The media ranges of an Accept value, best first. A q that is not a number counts as 1. */
export function parseAccept(value: string): MediaRange[] {
  const ranges = splitOutsideQuotes(value).flatMap((field): MediaRange[] => {
    const { type, parameters: { q: quality, ...parameters } } = parseMediaType(field);
    if (!type.includes('/')) return [];
    const q = quality === undefined || !Number.isFinite(Number(quality)) ? 1 : Math.min(Math.max(Number(quality), 0), 1);
    if (MULTIPART.has(type)) {
      const { type: partType, ...rest } = parameters;
      return [{ partType: (partType ?? ANY).toLowerCase(), multipart: true, parameters: rest, q }];
    }
    return [{ partType: type, multipart: type === ANY, parameters, q }];
  });
  return ranges.sort((a, b) => b.q - a.q);
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
  return parts.filter((part) => part.trim() !== '');
}

/**
 * RFC 9110 12.5.1: the quality of `mediaType` (with `parameters`, e.g. its transfer-syntax) is that
 * of the most specific range that matches it: a type beats a subtype wildcard, which beats "*\/*",
 * and a matching parameter ("*" matches any value) adds to that. 1 when no range is stated, 0 when none matches.
 */
export function qualityOf(mediaType: string, ranges: MediaRange[], parameters: Record<string, string> = {}): number {
  return ranges.length === 0 ? 1 : mostSpecificMatch(mediaType, ranges, parameters)?.q ?? 0;
}

/** Whether a range refuses `mediaType` outright: the most specific one that matches it has q=0. */
export const refuses = (ranges: MediaRange[], mediaType: string, parameters: Record<string, string> = {}) =>
  mostSpecificMatch(mediaType, ranges, parameters)?.q === 0;

function mostSpecificMatch(mediaType: string, ranges: MediaRange[], parameters: Record<string, string>): MediaRange | undefined {
  const [type, subtype] = mediaType.toLowerCase().split('/');
  let best: { range: MediaRange; specificity: number } | undefined;
  for (const range of ranges) {
    const [rangeType, rangeSubtype] = range.partType.split('/');
    if ((rangeType !== '*' && rangeType !== type) || (rangeSubtype !== '*' && rangeSubtype !== subtype)) continue;
    const named = Object.entries(range.parameters).filter(([name]) => parameters[name] !== undefined);
    if (named.some(([name, value]) => value !== '*' && value !== parameters[name])) continue;
    const specificity = 10 * ((rangeType === '*' ? 0 : 1) + (rangeSubtype === '*' ? 0 : 1)) + named.filter(([, value]) => value !== '*').length;
    if (!best || specificity > best.specificity || (specificity === best.specificity && range.q > best.range.q)) best = { range, specificity };
  }
  return best?.range;
}

/** The candidate (in order of preference) that `ranges` rate highest; the first when none are stated; else 406. */
export function chooseMediaType<T extends string>(ranges: MediaRange[], candidates: readonly T[]): T {
  let best: { mediaType: T; q: number } | undefined;
  for (const mediaType of candidates) {
    const q = qualityOf(mediaType, ranges);
    if (q > 0 && (!best || q > best.q)) best = { mediaType, q };
  }
  if (!best) throw notAcceptable(`none of the media types asked is served here; those served are ${candidates.join(', ')}`);
  return best.mediaType;
}

/** The ranges that accept something (q > 0), best first. */
const accepting = (ranges: MediaRange[]) => ranges.filter((range) => range.q > 0);

/** A Transfer Syntax UID, "*" for any, or undefined for the media type's default. */
export type AcceptedSyntax = string | undefined;

/** The syntaxes to try for an accepted one, in order: "*" (any) is the stored one, else the media type's default when the stored one is refused. */
export const orDefault = (transferSyntax: AcceptedSyntax): AcceptedSyntax[] => (transferSyntax === '*' ? ['*', undefined] : [transferSyntax]);

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
  const accepted = accepting(ranges).flatMap(({ partType, multipart, parameters }) => {
    if (!['application/dicom', 'application/*', ANY].includes(partType)) return [];
    if (!multipart && partType !== 'application/dicom') return [];
    return [{ transferSyntax: parameters['transfer-syntax'], multipart }];
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
  const accepted = accepting(ranges).flatMap(({ partType, multipart, parameters }) => {
    const transferSyntax = parameters['transfer-syntax'];
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
  if (!refuses(ranges, 'application/octet-stream')) {
    for (const { partType, multipart } of accepting(ranges)) {
      if ([ANY, 'application/octet-stream', 'application/*'].includes(partType)) return { multipart };
    }
  }
  throw notAcceptable('bulk data is served as multipart/related; type="application/octet-stream" or application/octet-stream');
}

export const DICOM_JSON_MEDIA_TYPE = 'application/dicom+json';

/** How a data set is sent: the DICOM JSON model, or PS3.19's Native DICOM Model in XML. */
export type DataSetMediaType = typeof DICOM_JSON_MEDIA_TYPE | typeof DICOM_XML_MEDIA_TYPE;

/**
 * Metadata, QIDO-RS results and the STOW-RS response (PS3.18 10.4.4, Table 10.4.4-1; 10.5.3; 10.6.3):
 * application/dicom+json (the default, single part), or XML — multipart/related;
 * type="application/dicom+xml", one data set per part, for the lists (`xml: 'multipart'`), or a
 * single application/dicom+xml document (`xml: 'single-part'`). JSON where both are as welcome;
 * 406 when the client takes neither.
 */
export function chooseDataSetMediaType(ranges: MediaRange[], what: string, xml: 'multipart' | 'single-part'): DataSetMediaType {
  if (ranges.length === 0) return DICOM_JSON_MEDIA_TYPE;
  const singlePart = ranges.filter((range) => !range.multipart || range.partType === ANY);
  const json = singlePart.length === 0 || refuses(singlePart, DICOM_JSON_MEDIA_TYPE) ? 0
    : Math.max(qualityOf(DICOM_JSON_MEDIA_TYPE, singlePart), qualityOf('application/json', singlePart));
  const xmlRanges = xml === 'multipart' ? ranges.filter((range) => range.multipart) : singlePart;
  const xmlQuality = xmlRanges.length === 0 ? 0 : qualityOf(DICOM_XML_MEDIA_TYPE, xmlRanges);
  if (json === 0 && xmlQuality === 0) {
    const xmlForm = xml === 'multipart' ? `multipart/related; type="${DICOM_XML_MEDIA_TYPE}"` : DICOM_XML_MEDIA_TYPE;
    throw notAcceptable(`${what} is served as ${DICOM_JSON_MEDIA_TYPE} or ${xmlForm}`);
  }
  return xmlQuality > json ? DICOM_XML_MEDIA_TYPE : DICOM_JSON_MEDIA_TYPE;
}
