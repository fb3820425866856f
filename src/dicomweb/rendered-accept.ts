// Choosing the rendered media type (PS3.18 8.7.5, 8.7.8): the `accept` query parameter, else the
// Accept header, with q-values and wildcards (RFC 9110 12.5.1); image/jpeg when nothing is asked.
import type { Request } from 'express';
import { RENDERED_MEDIA_TYPES, type RenderedMediaType } from '../dicom/render.ts';
import { badRequest, notAcceptable } from '../http/errors.ts';
import { parseMediaType } from './multipart-headers.ts';

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

/**
 * The rendered media type to answer with. A multipart/related range stands for its `type`
 * parameter (how PS3.18 asks for several rendered parts), so `multipart/related; type="image/png"`
 * selects image/png. 406 when no acceptable range matches image/jpeg or image/png.
 */
export const negotiateRenderedMediaType = (req: Request): RenderedMediaType => chooseMediaType(acceptOf(req), RENDERED_MEDIA_TYPES);

/** The candidate (in order of preference) that `asked` (an Accept value) rates highest; the first when nothing is asked; else 406. */
export function chooseMediaType<T extends string>(asked: string | undefined, candidates: readonly T[]): T {
  if (asked === undefined || asked.trim() === '') return candidates[0]!;
  const ranges = parseAccept(asked);
  let best: { mediaType: T; q: number } | undefined;
  for (const mediaType of candidates) {
    const q = qualityOf(mediaType, ranges);
    if (q > 0 && (!best || q > best.q)) best = { mediaType, q };
  }
  if (!best) throw notAcceptable(`none of "${asked}" is served here; the media types served are ${candidates.join(', ')}`);
  return best.mediaType;
}

/** PS3.18 8.3.3.1: the accept query parameter, when present, replaces the Accept header. */
function acceptOf(req: Request): string | undefined {
  const parameter = req.query.accept;
  if (parameter === undefined) return req.get('accept');
  if (Array.isArray(parameter)) return parameter.map(String).join(',');
  if (typeof parameter !== 'string') throw badRequest('the accept query parameter must be media types');
  return parameter;
}

function parseAccept(value: string): MediaRange[] {
  return splitOutsideQuotes(value).flatMap((text) => {
    const { type: full, parameters } = parseMediaType(text);
    const effective = full === 'multipart/related' ? (parameters.type ?? '*/*').toLowerCase() : full;
    const [type, subtype] = effective.split('/');
    if (!type || !subtype) return [];
    const q = parameters.q === undefined ? 1 : Number(parameters.q);
    return Number.isFinite(q) ? [{ type, subtype, q: Math.min(Math.max(q, 0), 1) }] : [];
  });
}

/** RFC 9110 12.5.1: a media type takes the q of the most specific range that matches it. */
function qualityOf(mediaType: string, ranges: MediaRange[]): number {
  const [type, subtype] = mediaType.split('/');
  let specificity = -1;
  let q = 0;
  for (const range of ranges) {
    const matches = (range.type === '*' || range.type === type) && (range.subtype === '*' || range.subtype === subtype);
    if (!matches) continue;
    const rangeSpecificity = (range.type === '*' ? 0 : 1) + (range.subtype === '*' ? 0 : 1);
    if (rangeSpecificity > specificity || (rangeSpecificity === specificity && range.q > q)) {
      specificity = rangeSpecificity;
      q = range.q;
    }
  }
  return q;
}

function splitOutsideQuotes(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const character of value) {
    if (character === '"') quoted = !quoted;
    if (character === ',' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += character;
    }
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter(Boolean);
}
