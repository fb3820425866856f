// Data elements read in one Transfer Syntax and written in another (PS3.5 section 7): the element
// headers change (implicit or explicit VR, byte order) and multi-byte values are byte swapped by
// their VR; the values are otherwise kept byte for byte. Sequences and items are written with
// undefined lengths, so that nothing needs measuring, and Group Lengths (retired) are left out.
import { implicitVR } from './data-dictionary.ts';
import { InstanceParseError } from './instance-errors.ts';
import type { SequentialReader } from './sequential-reader.ts';
import { KNOWN_VRS, LONG_LENGTH_VRS } from './value-representations.ts';

export interface ElementSyntax {
  explicitVR: boolean;
  littleEndian: boolean;
}

/** A data element; values are held little endian whatever the Transfer Syntax they were read in. */
export type RawElement =
  | { tag: number; vr: string; value: Buffer }
  | { tag: number; vr: string; items: RawElement[][] }
  /** Encapsulated pixel data inside an item (e.g. an icon image): its items, Basic Offset Table first. */
  | { tag: number; vr: string; fragments: Buffer[] };

export interface ElementHeader {
  tag: number;
  vr: string;
  length: number;
  /** The VR came from the data dictionary: the data set named none. */
  vrFromDictionary: boolean;
}

export const ITEM = 0xfffee000;
export const ITEM_DELIMITATION = 0xfffee00d;
export const SEQUENCE_DELIMITATION = 0xfffee0dd;
export const UNDEFINED_LENGTH = 0xffffffff;
export const PIXEL_DATA = 0x7fe00010;
const PIXEL_REPRESENTATION = 0x00280103;
const PIXEL_DATA_TAGS = new Set([PIXEL_DATA, 0x7fe00008, 0x7fe00009]);
const IMPLICIT_LITTLE: ElementSyntax = { explicitVR: false, littleEndian: true };

/** Bytes per word of each VR whose value is byte swapped between the two byte orders (PS3.5 7.3). */
const WORD_SIZE: Record<string, number> = {
  US: 2, SS: 2, OW: 2, AT: 2, UL: 4, SL: 4, FL: 4, OF: 4, OL: 4, FD: 8, OD: 8, SV: 8, UV: 8, OV: 8,
};

const malformed = (message: string) => new InstanceParseError('malformed', message);

/** Reverses the bytes of each `wordSize`-byte word of `bytes`, in place. */
export function swapWords(bytes: Buffer, wordSize: number): Buffer {
  if (wordSize === 2) return bytes.length % 2 === 0 ? bytes.swap16() : bytes;
  if (wordSize === 4) return bytes.length % 4 === 0 ? bytes.swap32() : bytes;
  if (wordSize === 8) return bytes.length % 8 === 0 ? bytes.swap64() : bytes;
  return bytes;
}

export const wordSizeOf = (vr: string) => WORD_SIZE[vr] ?? 1;

/** Reads elements of one data set; knows the Pixel Representation that decides "US or SS" in Implicit VR. */
export class ElementReader {
  pixelRepresentation: number | undefined;

  constructor(private readonly reader: SequentialReader, readonly syntax: ElementSyntax) {}

  get position(): number {
    return this.reader.position;
  }

  atEnd(): Promise<boolean> {
    return this.reader.atEnd();
  }

  async header(syntax: ElementSyntax = this.syntax): Promise<ElementHeader> {
    const bytes = await this.reader.read(8);
    const group = syntax.littleEndian ? bytes.readUInt16LE(0) : bytes.readUInt16BE(0);
    const element = syntax.littleEndian ? bytes.readUInt16LE(2) : bytes.readUInt16BE(2);
    const tag = ((group << 16) | element) >>> 0;
    const length32 = () => (syntax.littleEndian ? bytes.readUInt32LE(4) : bytes.readUInt32BE(4));
    if (group === 0xfffe) return { tag, vr: '', length: length32(), vrFromDictionary: false };
    const vr = bytes.toString('latin1', 4, 6);
    if (!syntax.explicitVR || !/^[A-Z]{2}$/.test(vr)) {
      return { tag, vr: implicitVR(tag, { pixelRepresentation: this.pixelRepresentation }), length: length32(), vrFromDictionary: true };
    }
    if (KNOWN_VRS.has(vr) && !LONG_LENGTH_VRS.has(vr)) {
      return { tag, vr, length: syntax.littleEndian ? bytes.readUInt16LE(6) : bytes.readUInt16BE(6), vrFromDictionary: false };
    }
    const length = await this.reader.read(4);
    return { tag, vr: KNOWN_VRS.has(vr) ? vr : 'UN', length: syntax.littleEndian ? length.readUInt32LE(0) : length.readUInt32BE(0), vrFromDictionary: false };
  }

  /** A value of `length` bytes, little endian. */
  async value(vr: string, length: number, syntax: ElementSyntax = this.syntax): Promise<Buffer> {
    const bytes = await this.reader.read(length);
    return syntax.littleEndian ? bytes : swapWords(bytes, wordSizeOf(vr));
  }

  read(length: number): Promise<Buffer> {
    return this.reader.read(length);
  }

  /** The rest of the element whose header was just read. */
  async element(header: ElementHeader, syntax: ElementSyntax = this.syntax): Promise<RawElement> {
    const { tag, vr, length } = header;
    if (length === UNDEFINED_LENGTH) {
      if (PIXEL_DATA_TAGS.has(tag) && vr !== 'SQ') return { tag, vr: 'OB', fragments: await this.fragments() };
      if (vr !== 'SQ' && vr !== 'UN') throw malformed(`element ${hex(tag)} (${vr}) has an undefined length`);
      // PS3.5 6.2.2: a UN value of undefined length is a sequence whose items are Implicit VR Little Endian.
      return { tag, vr: 'SQ', items: await this.items(vr === 'UN' ? IMPLICIT_LITTLE : syntax, undefined) };
    }
    if (vr === 'SQ') return { tag, vr, items: await this.items(syntax, this.reader.position + length) };
    const value = await this.value(vr, length, syntax);
    if (tag === PIXEL_REPRESENTATION && value.length >= 2) this.pixelRepresentation = value.readUInt16LE(0);
    return { tag, vr, value };
  }

  /** The elements up to `end` (a position), an Item Delimitation Item, or the end of the stream. */
  async dataSet(syntax: ElementSyntax, end: number | undefined, untilItemDelimiter: boolean): Promise<RawElement[]> {
    const elements: RawElement[] = [];
    for (;;) {
      if (end !== undefined ? this.reader.position >= end : !untilItemDelimiter && (await this.reader.atEnd())) break;
      const header = await this.header(syntax);
      if (header.tag === ITEM_DELIMITATION && untilItemDelimiter) break;
      if (header.tag >>> 16 === 0xfffe) throw malformed(`${hex(header.tag)} where an element was expected`);
      elements.push(await this.element(header, syntax));
    }
    return elements;
  }

  private async items(syntax: ElementSyntax, end: number | undefined): Promise<RawElement[][]> {
    const items: RawElement[][] = [];
    const outer = this.pixelRepresentation;
    for (;;) {
      if (end !== undefined && this.reader.position >= end) break;
      const { tag, length } = await this.header(syntax);
      if (tag === SEQUENCE_DELIMITATION) break;
      if (tag !== ITEM) throw malformed(`${hex(tag)} where a sequence Item was expected`);
      items.push(await this.dataSet(syntax, length === UNDEFINED_LENGTH ? undefined : this.reader.position + length, length === UNDEFINED_LENGTH));
      this.pixelRepresentation = outer;
    }
    return items;
  }

  /** PS3.5 A.4: items up to the Sequence Delimitation Item, always little endian. */
  async fragments(): Promise<Buffer[]> {
    const fragments: Buffer[] = [];
    for (;;) {
      const item = await this.reader.read(8);
      const tag = ((item.readUInt16LE(0) << 16) | item.readUInt16LE(2)) >>> 0;
      if (tag === SEQUENCE_DELIMITATION) return fragments;
      if (tag !== ITEM) throw malformed(`${hex(tag)} where a fragment Item was expected`);
      fragments.push(await this.reader.read(item.readUInt32LE(4)));
    }
  }
}

/** Writes elements in one Transfer Syntax; values are given little endian. */
export class ElementWriter {
  constructor(readonly syntax: ElementSyntax) {}

  header(tag: number, vr: string, length: number): Buffer {
    const { explicitVR, littleEndian } = this.syntax;
    const long = !explicitVR || LONG_LENGTH_VRS.has(vr) || tag >>> 16 === 0xfffe;
    const bytes = Buffer.alloc(explicitVR && tag >>> 16 !== 0xfffe ? (long ? 12 : 8) : 8);
    const write16 = (value: number, at: number) => (littleEndian ? bytes.writeUInt16LE(value, at) : bytes.writeUInt16BE(value, at));
    const write32 = (value: number, at: number) => (littleEndian ? bytes.writeUInt32LE(value, at) : bytes.writeUInt32BE(value, at));
    write16(tag >>> 16, 0);
    write16(tag & 0xffff, 2);
    if (!explicitVR || tag >>> 16 === 0xfffe) {
      write32(length, 4);
    } else if (long) {
      bytes.write(vr, 4, 'latin1');
      write32(length, 8);
    } else {
      bytes.write(vr, 4, 'latin1');
      write16(length, 6);
    }
    return bytes;
  }

  /** The encoding of `value` (little endian) in this syntax. */
  value(vr: string, value: Buffer): Buffer {
    return this.syntax.littleEndian ? value : swapWords(Buffer.from(value), wordSizeOf(vr));
  }

  /** Appends the encoding of `elements` to `out`. */
  elements(elements: RawElement[], out: Buffer[]): void {
    for (const element of elements) {
      if ((element.tag & 0xffff) === 0) continue; // Group Length: retired, and no longer true once lengths change
      if ('items' in element) {
        out.push(this.header(element.tag, 'SQ', UNDEFINED_LENGTH));
        for (const item of element.items) {
          out.push(this.header(ITEM, '', UNDEFINED_LENGTH));
          this.elements(item, out);
          out.push(this.header(ITEM_DELIMITATION, '', 0));
        }
        out.push(this.header(SEQUENCE_DELIMITATION, '', 0));
      } else if ('fragments' in element) {
        out.push(this.header(element.tag, 'OB', UNDEFINED_LENGTH));
        for (const fragment of element.fragments) out.push(this.header(ITEM, '', fragment.length), fragment);
        out.push(this.header(SEQUENCE_DELIMITATION, '', 0));
      } else {
        // A value too long for a 2-byte length (possible once an Implicit VR one gets its dictionary VR) is written as UN.
        const vr = this.syntax.explicitVR && !LONG_LENGTH_VRS.has(element.vr) && element.value.length > 0xffff ? 'UN' : element.vr;
        out.push(this.header(element.tag, vr, element.value.length), this.value(vr, element.value));
      }
    }
  }
}

const hex = (tag: number) => tag.toString(16).toUpperCase().padStart(8, '0');
