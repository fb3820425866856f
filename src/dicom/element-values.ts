// One element's Value Field, as the DICOM JSON Model represents it (PS3.18 F.2.3 to F.2.7).
import type { CharacterSetDecoder } from './character-sets.ts';
import type { DicomJsonAttribute, DicomJsonValue, PersonNameValue } from './dicom-json.ts';
import { BINARY_VRS, BINARY_WORD_SIZE } from './value-representations.ts';

export interface ValueContext {
  littleEndian: boolean;
  text: CharacterSetDecoder;
}

type ValueFields = Pick<DicomJsonAttribute, 'Value' | 'InlineBinary'>;

/** VRs whose text the Specific Character Set applies to (PS3.5 6.1.2.3); the others are in the default repertoire. */
const EXTENDED_TEXT_VRS = new Set(['LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UT']);
/** Text VRs holding one value, in which a backslash is text (PS3.5 6.4). */
const SINGLE_VALUED_TEXT_VRS = new Set(['LT', 'ST', 'UT', 'UR']);
/** Leading spaces are significant in these; only trailing padding is removed (PS3.5 Table 6.2-1). */
const TRAILING_PADDING_ONLY_VRS = new Set(['LT', 'ST', 'UT', 'UC', 'PN']);
const NUMBER_STRING_VRS = new Set(['IS', 'DS']);

interface BinaryNumberReader {
  size: number;
  read(view: DataView, offset: number, littleEndian: boolean): number | string | null;
}

const finiteOrNull = (n: number) => (Number.isFinite(n) ? n : null); // JSON has no NaN or Infinity

/** The shortest decimal that reads back as the same 32-bit float, so FL 9.7 is 9.7 and not 9.699999809265137. */
function shortestFloat32(n: number): number | null {
  if (!Number.isFinite(n)) return null;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(n.toPrecision(digits));
    if (Math.fround(candidate) === n) return candidate;
  }
  return Number(n.toPrecision(9));
}
const safeIntegerOrString = (n: bigint) => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString());

const BINARY_NUMBER_VRS: Record<string, BinaryNumberReader> = {
  US: { size: 2, read: (v, o, le) => v.getUint16(o, le) },
  SS: { size: 2, read: (v, o, le) => v.getInt16(o, le) },
  UL: { size: 4, read: (v, o, le) => v.getUint32(o, le) },
  SL: { size: 4, read: (v, o, le) => v.getInt32(o, le) },
  FL: { size: 4, read: (v, o, le) => shortestFloat32(v.getFloat32(o, le)) },
  FD: { size: 8, read: (v, o, le) => finiteOrNull(v.getFloat64(o, le)) },
  SV: { size: 8, read: (v, o, le) => safeIntegerOrString(v.getBigInt64(o, le)) },
  UV: { size: 8, read: (v, o, le) => safeIntegerOrString(v.getBigUint64(o, le)) },
  AT: {
    size: 4,
    read: (v, o, le) =>
      (v.getUint16(o, le).toString(16) + v.getUint16(o + 2, le).toString(16).padStart(4, '0')).toUpperCase().padStart(8, '0'),
  },
};

/** The value of a non-sequence element; an empty value has neither Value nor InlineBinary (PS3.18 F.2.5). */
export function valueFields(vr: string, bytes: Buffer, context: ValueContext): ValueFields {
  if (bytes.length === 0) return {};
  if (BINARY_VRS.has(vr)) return { InlineBinary: littleEndianBytes(vr, bytes, context.littleEndian).toString('base64') };
  const numberReader = BINARY_NUMBER_VRS[vr];
  if (numberReader) return nonEmpty(binaryNumbers(numberReader, bytes, context.littleEndian));
  return nonEmpty(textValues(vr, bytes, context.text));
}

const nonEmpty = (values: DicomJsonValue[]): ValueFields =>
  values.length === 0 || (values.length === 1 && values[0] === null) ? {} : { Value: values };

function binaryNumbers(reader: BinaryNumberReader, bytes: Buffer, littleEndian: boolean): DicomJsonValue[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: DicomJsonValue[] = [];
  for (let offset = 0; offset + reader.size <= bytes.length; offset += reader.size) values.push(reader.read(view, offset, littleEndian));
  return values;
}

function textValues(vr: string, bytes: Buffer, decoder: CharacterSetDecoder): DicomJsonValue[] {
  const text = EXTENDED_TEXT_VRS.has(vr) ? decoder.decode(bytes) : bytes.toString('latin1');
  const values = SINGLE_VALUED_TEXT_VRS.has(vr) ? [text] : text.split('\\');
  return values.map((value) => {
    const trimmed = TRAILING_PADDING_ONLY_VRS.has(vr) ? value.replace(/[ \0]+$/, '') : value.replace(/^[ \0]+|[ \0]+$/g, '');
    if (trimmed === '') return null;
    if (vr === 'PN') return personName(trimmed);
    if (NUMBER_STRING_VRS.has(vr)) return numberOrText(trimmed);
    return trimmed;
  });
}

const PERSON_NAME_GROUPS = ['Alphabetic', 'Ideographic', 'Phonetic'] as const;

function personName(value: string): PersonNameValue | null {
  const name: PersonNameValue = {};
  value.split('=').slice(0, 3).forEach((group, index) => {
    const trimmed = group.replace(/ +$/, '');
    // A group of empty components ('^^^^') names no one.
    if (trimmed.replace(/\^/g, '').trim() !== '') name[PERSON_NAME_GROUPS[index]!] = trimmed;
  });
  return Object.keys(name).length === 0 ? null : name;
}

/** IS and DS are JSON numbers; a value that is not a number is kept as written rather than lost. */
function numberOrText(value: string): number | string {
  const number = Number(value);
  return Number.isFinite(number) ? number : value;
}

/** InlineBinary and bulk data are little endian (PS3.18 8.7.3.3.1): words of a Big Endian value are swapped. */
export function littleEndianBytes(vr: string, bytes: Buffer, littleEndian: boolean): Buffer {
  const wordSize = BINARY_WORD_SIZE[vr] ?? 1;
  if (littleEndian || wordSize === 1 || bytes.length % wordSize !== 0) return bytes;
  const swapped = Buffer.from(bytes);
  if (wordSize === 2) swapped.swap16();
  else if (wordSize === 4) swapped.swap32();
  else swapped.swap64();
  return swapped;
}
