// Header parsing for multipart bodies: media types with parameters (RFC 9110 §8.3.1) and the
// header block of a body part (RFC 2046 §5.1.1, fields as in RFC 5322 §2.2).
import { badRequest } from '../http/errors.ts';

export interface MediaType {
  /** Lower-case type/subtype, e.g. "multipart/related"; "" when the value names none. */
  type: string;
  /** Lower-case names; values as sent, quotes and escapes removed. The first of a repeated name wins. */
  parameters: Record<string, string>;
}

/**
 * Tolerant on purpose: an unquoted value runs to the next ";" so that boundaries with "=", ":" or
 * "/" (which RFC 9110 tokens exclude but RFC 2046 boundaries allow) are taken as clients send them.
 */
export function parseMediaType(value: string): MediaType {
  const typeEnd = indexOrEnd(value, ';', 0);
  const parameters: Record<string, string> = {};
  let position = typeEnd + 1;
  while (position < value.length) {
    const nameEnd = Math.min(indexOrEnd(value, '=', position), indexOrEnd(value, ';', position));
    const name = value.slice(position, nameEnd).trim().toLowerCase();
    if (value[nameEnd] !== '=') {
      position = nameEnd + 1; // a parameter without a value: skipped
      continue;
    }
    const parsed = parseParameterValue(value, nameEnd + 1);
    if (name && !(name in parameters)) parameters[name] = parsed.value;
    position = parsed.end + 1;
  }
  return { type: value.slice(0, typeEnd).trim().toLowerCase(), parameters };
}

/** A quoted-string (with backslash escapes) or the text up to the next ";"; `end` is at that ";" or the end. */
function parseParameterValue(text: string, start: number): { value: string; end: number } {
  let position = start;
  while (text[position] === ' ' || text[position] === '\t') position++;
  if (text[position] !== '"') {
    const end = indexOrEnd(text, ';', start);
    return { value: text.slice(start, end).trim(), end };
  }
  let value = '';
  for (position++; position < text.length && text[position] !== '"'; position++) {
    if (text[position] === '\\' && position + 1 < text.length) position++;
    value += text[position];
  }
  return { value, end: indexOrEnd(text, ';', position) };
}

function indexOrEnd(text: string, search: string, from: number): number {
  const index = text.indexOf(search, from);
  return index === -1 ? text.length : index;
}

/**
 * The fields of a part's header block (the bytes between the delimiter line and the empty line),
 * names lower-cased. Folded lines are unfolded; a repeated field keeps its values joined by ", ".
 */
export function parsePartHeaders(block: Buffer, partNumber: number): Record<string, string> {
  const headers: Record<string, string> = {};
  if (block.length === 0) return headers;
  // latin1 maps every byte to one character, so no byte a client sent is lost or rejected here.
  const lines = block.toString('latin1').split('\r\n');
  const fields: string[] = [];
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) {
      fields[fields.length - 1] += ` ${line.trim()}`;
    } else {
      fields.push(line);
    }
  }
  for (const field of fields) {
    const colon = field.indexOf(':');
    const name = field.slice(0, colon).trim().toLowerCase();
    if (colon <= 0 || !name) throw badRequest(`part ${partNumber} of the multipart body has a malformed header line: "${field.slice(0, 100)}"`);
    const value = field.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}
