// Reads a data set front to back (PS3.5 section 7) into the DICOM JSON Model. Bulk values are
// skipped, not read: only their position is kept. For the top-level Pixel Data it also keeps what
// locating frames needs: the fragments and Basic Offset Table of encapsulated pixel data.
import { characterSetDecoder, type CharacterSetDecoder } from './character-sets.ts';
import { implicitVR } from './data-dictionary.ts';
import { tagHex, type DicomJsonAttribute, type DicomJsonDataSet } from './dicom-json.ts';
import { valueFields } from './element-values.ts';
import { bulkDataPlaceholder } from './bulk-data-uri.ts';
import { InstanceParseError } from './instance-errors.ts';
import type { SequentialReader } from './sequential-reader.ts';
import { BINARY_VRS, BULK_DATA_VRS, KNOWN_VRS, LONG_LENGTH_VRS } from './value-representations.ts';

export interface DataSetSyntax {
  explicitVR: boolean;
  littleEndian: boolean;
}

export interface ReadLimits {
  /** Binary values (OB, OD, OF, OL, OV, OW, UN) longer than this are bulk data. */
  bulkDataThreshold: number;
  /** Longer values are not held in memory: bulk data when their VR allows it, otherwise the instance is refused. */
  maxValueLength: number;
  /** The values held in memory (everything but bulk data) may total this many bytes; beyond, the instance is refused. */
  maxHeaderLength: number;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** Where a value left out of the JSON (as a BulkDataURI) is, in the stream the reader read. */
export interface BulkDataLocation extends ByteRange {
  /** The tag path the BulkDataURI placeholder names (see bulk-data-uri.ts). */
  reference: string;
  vr: string;
  /** The range runs from the first Item tag through the Sequence Delimitation Item. */
  encapsulated: boolean;
}

export interface Fragment extends ByteRange {
  /** The first bytes of the fragment, to recognise where an encoded frame starts. */
  firstBytes: Buffer;
}

export type PixelDataElement =
  | { tag: number; vr: string; encapsulated: false; value: ByteRange }
  | { tag: number; vr: string; encapsulated: true; value: ByteRange; basicOffsetTable: number[]; fragments: Fragment[] };

export interface DataSetContent {
  dataSet: DicomJsonDataSet;
  bulkData: BulkDataLocation[];
  /** The top-level Pixel Data, Float Pixel Data or Double Float Pixel Data. */
  pixelData: PixelDataElement | undefined;
  /** Raw values of the top-level Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002), when present. */
  extendedOffsetTable: { offsets?: Buffer; lengths?: Buffer };
  warnings: string[];
}

const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const UNDEFINED_LENGTH = 0xffffffff;
const SPECIFIC_CHARACTER_SET = 0x00080005;
const PIXEL_REPRESENTATION = 0x00280103;
const PIXEL_DATA = 0x7fe00010;
const PIXEL_DATA_TAGS = new Set([PIXEL_DATA, 0x7fe00008, 0x7fe00009]); // Pixel Data, Float and Double Float Pixel Data
const EXTENDED_OFFSET_TABLE = 0x7fe00001;
const EXTENDED_OFFSET_TABLE_LENGTHS = 0x7fe00002;
/** Enough for the longest frame start recognised: the 12-byte JPEG 2000 signature box. */
const FRAGMENT_FIRST_BYTES = 12;
/** PS3.5 6.2.2 note: the items of a UN value of undefined length are Implicit VR Little Endian. */
const IMPLICIT_VR_LITTLE_ENDIAN: DataSetSyntax = { explicitVR: false, littleEndian: true };

interface ElementHeader {
  tag: number;
  vr: string;
  length: number;
}

/** What holds within one data set (the top level or an item): its place, encoding and text decoding. */
interface Scope {
  path: string[];
  syntax: DataSetSyntax;
  text: CharacterSetDecoder;
  pixelRepresentation: number | undefined;
  topLevel: boolean;
}

const malformed = (message: string, attribute?: string) => new InstanceParseError('malformed', message, attribute);

export async function readDataSet(
  reader: SequentialReader,
  syntax: DataSetSyntax,
  limits: ReadLimits,
  options: { onlyGroup?: number } = {},
): Promise<DataSetContent> {
  const parser = new DataSetParser(reader, limits, options.onlyGroup);
  const scope: Scope = { path: [], syntax, text: characterSetDecoder([]), pixelRepresentation: undefined, topLevel: true };
  const dataSet = await parser.dataSet(scope, { end: undefined, untilItemDelimiter: false });
  return {
    dataSet,
    bulkData: parser.bulkData,
    pixelData: parser.pixelData,
    extendedOffsetTable: parser.extendedOffsetTable,
    warnings: parser.warnings,
  };
}

class DataSetParser {
  readonly bulkData: BulkDataLocation[] = [];
  pixelData: PixelDataElement | undefined;
  readonly extendedOffsetTable: { offsets?: Buffer; lengths?: Buffer } = {};
  readonly warnings: string[] = [];
  #heldBytes = 0;

  constructor(
    private readonly reader: SequentialReader,
    private readonly limits: ReadLimits,
    /** Stop, at the top level, before the first element of another group (for the File Meta Information). */
    private readonly onlyGroup: number | undefined,
  ) {}

  async dataSet(scope: Scope, bounds: { end: number | undefined; untilItemDelimiter: boolean }): Promise<DicomJsonDataSet> {
    const attributes: [string, DicomJsonAttribute][] = [];
    for (;;) {
      if (bounds.end !== undefined ? this.reader.position >= bounds.end : !bounds.untilItemDelimiter && (await this.atTopLevelEnd(scope))) break;
      const header = await this.header(scope.syntax, scope);
      if (header.tag === ITEM_DELIMITATION) {
        if (bounds.untilItemDelimiter) break;
        throw malformed(`an Item Delimitation Item outside an item at offset ${this.reader.position - 8}`);
      }
      if (header.tag >>> 16 === 0xfffe) {
        throw malformed(`${tagHex(header.tag)} where an element was expected, at offset ${this.reader.position - 8}`);
      }
      if (bounds.end !== undefined && header.length !== UNDEFINED_LENGTH && this.reader.position + header.length > bounds.end) {
        throw malformed(`element ${tagHex(header.tag)} is longer than the item that holds it`, this.pathOf(scope, header.tag));
      }
      const attribute = await this.element(header, scope);
      if (attribute) attributes.push([tagHex(header.tag), attribute]);
    }
    if (bounds.end !== undefined && this.reader.position !== bounds.end) throw malformed(`an item's elements overrun its length`);
    // PS3.18 F.2.2: attributes in ascending tag order, which files almost always have already.
    attributes.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(attributes);
  }

  private async atTopLevelEnd(scope: Scope): Promise<boolean> {
    if (await this.reader.atEnd()) return true;
    if (this.onlyGroup === undefined || !scope.topLevel) return false;
    const group = (await this.reader.peek(2)).readUInt16LE(0);
    return group !== this.onlyGroup;
  }

  private async header(syntax: DataSetSyntax, scope: Scope): Promise<ElementHeader> {
    const bytes = await this.reader.read(8);
    const tag = readTag(bytes, syntax.littleEndian);
    const length32 = () => (syntax.littleEndian ? bytes.readUInt32LE(4) : bytes.readUInt32BE(4));
    if (tag >>> 16 === 0xfffe) return { tag, vr: 'na', length: length32() };
    const vr = bytes.toString('latin1', 4, 6);
    // An element without a VR in an explicit VR data set is read as implicit VR, as DCMTK does.
    if (!syntax.explicitVR || !/^[A-Z]{2}$/.test(vr)) return { tag, vr: implicitVR(tag, scope), length: length32() };
    if (KNOWN_VRS.has(vr) && !LONG_LENGTH_VRS.has(vr)) {
      return { tag, vr, length: syntax.littleEndian ? bytes.readUInt16LE(6) : bytes.readUInt16BE(6) };
    }
    const length = await this.reader.read(4);
    // PS3.5 6.2: a VR this parser does not know yet is read as UN (new VRs all have 4-byte lengths).
    return { tag, vr: KNOWN_VRS.has(vr) ? vr : 'UN', length: syntax.littleEndian ? length.readUInt32LE(0) : length.readUInt32BE(0) };
  }

  private async element(header: ElementHeader, scope: Scope): Promise<DicomJsonAttribute | undefined> {
    const { tag, vr, length } = header;
    if (length === UNDEFINED_LENGTH) {
      // Some writers label encapsulated Pixel Data UN; its items are fragments all the same.
      if (PIXEL_DATA_TAGS.has(tag) && vr !== 'SQ') return this.encapsulatedPixelData(header, scope);
      if (vr === 'SQ' || vr === 'UN') {
        const itemSyntax = vr === 'UN' ? IMPLICIT_VR_LITTLE_ENDIAN : scope.syntax;
        return withItems(await this.sequence(tag, scope, itemSyntax, undefined));
      }
      throw malformed(`element ${tagHex(tag)} (${vr}) has an undefined length`, this.pathOf(scope, tag));
    }
    if (vr === 'SQ') return withItems(await this.sequence(tag, scope, scope.syntax, this.reader.position + length));
    if ((tag & 0xffff) === 0) {
      await this.reader.skip(length); // PS3.18 F.2.2: Group Length is not part of the JSON model
      return undefined;
    }
    return this.value(header, scope);
  }

  private async value({ tag, vr, length }: ElementHeader, scope: Scope): Promise<DicomJsonAttribute> {
    const isBulk =
      PIXEL_DATA_TAGS.has(tag) ||
      (BINARY_VRS.has(vr) && length > this.limits.bulkDataThreshold) ||
      (BULK_DATA_VRS.has(vr) && length > this.limits.maxValueLength);
    if (!isBulk && length > this.limits.maxValueLength) {
      throw new InstanceParseError('too-large', `element ${tagHex(tag)} (${vr}) holds ${length} bytes, more than the ${this.limits.maxValueLength} allowed`, this.pathOf(scope, tag));
    }
    const isOffsetTable = scope.topLevel && (tag === EXTENDED_OFFSET_TABLE || tag === EXTENDED_OFFSET_TABLE_LENGTHS);
    const offset = this.reader.position;
    let bytes: Buffer | undefined;
    if (!isBulk || (isOffsetTable && length <= this.limits.maxValueLength)) bytes = await this.read(length, scope, tag);
    else await this.reader.skip(length);

    if (isOffsetTable && bytes) this.extendedOffsetTable[tag === EXTENDED_OFFSET_TABLE ? 'offsets' : 'lengths'] = bytes;
    if (isBulk) {
      if (scope.topLevel && PIXEL_DATA_TAGS.has(tag)) this.pixelData = { tag, vr, encapsulated: false, value: { offset, length } };
      return this.bulk({ tag, vr, offset, length, encapsulated: false }, scope);
    }
    const attribute: DicomJsonAttribute = { vr, ...valueFields(vr, bytes!, { littleEndian: scope.syntax.littleEndian, text: scope.text }) };
    this.applyToScope(tag, attribute, scope);
    return attribute;
  }

  private async read(length: number, scope: Scope, tag: number): Promise<Buffer> {
    this.#heldBytes += length;
    if (this.#heldBytes > this.limits.maxHeaderLength) {
      throw new InstanceParseError('too-large', `the values outside bulk data exceed ${this.limits.maxHeaderLength} bytes`, this.pathOf(scope, tag));
    }
    return this.reader.read(length);
  }

  private bulk(location: { tag: number; vr: string; offset: number; length: number; encapsulated: boolean }, scope: Scope): DicomJsonAttribute {
    if (location.length === 0) return { vr: location.vr };
    const reference = this.pathOf(scope, location.tag);
    const { vr, offset, length, encapsulated } = location;
    this.bulkData.push({ reference, vr, offset, length, encapsulated });
    return { vr, BulkDataURI: bulkDataPlaceholder(reference) };
  }

  /** Specific Character Set and Pixel Representation govern how the rest of their data set (and its items) reads. */
  private applyToScope(tag: number, attribute: DicomJsonAttribute, scope: Scope): void {
    if (tag === SPECIFIC_CHARACTER_SET) {
      const terms = (attribute.Value ?? []).map((term) => (typeof term === 'string' ? term : ''));
      scope.text = characterSetDecoder(terms);
      for (const term of scope.text.unsupportedTerms) {
        this.warnings.push(`Specific Character Set "${term}" is not supported; its text was decoded as ISO 8859-1`);
      }
    } else if (tag === PIXEL_REPRESENTATION) {
      const value = attribute.Value?.[0];
      scope.pixelRepresentation = typeof value === 'number' ? value : undefined;
    }
  }

  private async sequence(tag: number, scope: Scope, itemSyntax: DataSetSyntax, end: number | undefined): Promise<DicomJsonDataSet[]> {
    const items: DicomJsonDataSet[] = [];
    for (;;) {
      if (end !== undefined && this.reader.position >= end) break;
      const { tag: itemTag, length } = await this.header(itemSyntax, scope);
      if (itemTag === SEQUENCE_DELIMITATION) break;
      if (itemTag !== ITEM) throw malformed(`sequence ${tagHex(tag)} holds ${tagHex(itemTag)} where an Item was expected`, this.pathOf(scope, tag));
      const itemScope: Scope = {
        path: [...scope.path, tagHex(tag), String(items.length)],
        syntax: itemSyntax,
        text: scope.text,
        pixelRepresentation: scope.pixelRepresentation,
        topLevel: false,
      };
      const bounds = length === UNDEFINED_LENGTH
        ? { end: undefined, untilItemDelimiter: true }
        : { end: this.reader.position + length, untilItemDelimiter: false };
      items.push(await this.dataSet(itemScope, bounds));
    }
    if (end !== undefined && this.reader.position !== end) throw malformed(`sequence ${tagHex(tag)} overruns its length`, this.pathOf(scope, tag));
    return items;
  }

  /** PS3.5 A.4: a Basic Offset Table item, then one item per fragment, then a Sequence Delimitation Item. */
  private async encapsulatedPixelData({ tag, vr }: ElementHeader, scope: Scope): Promise<DicomJsonAttribute> {
    const offset = this.reader.position;
    const keepFragments = scope.topLevel && tag === PIXEL_DATA;
    let basicOffsetTable: number[] | undefined;
    const fragments: Fragment[] = [];
    for (;;) {
      const item = await this.reader.read(8);
      const itemTag = readTag(item, true);
      const length = item.readUInt32LE(4);
      if (itemTag === SEQUENCE_DELIMITATION) break;
      if (itemTag !== ITEM || length === UNDEFINED_LENGTH) {
        throw malformed(`encapsulated Pixel Data holds ${tagHex(itemTag)} (length ${length}) where a fragment Item was expected`, this.pathOf(scope, tag));
      }
      if (basicOffsetTable === undefined) {
        basicOffsetTable = uint32Array(await this.read(length, scope, tag));
        continue;
      }
      const fragmentOffset = this.reader.position;
      const firstBytes = keepFragments ? await this.reader.read(Math.min(length, FRAGMENT_FIRST_BYTES)) : Buffer.alloc(0);
      await this.reader.skip(length - firstBytes.length);
      if (keepFragments) fragments.push({ offset: fragmentOffset, length, firstBytes });
    }
    const value = { offset, length: this.reader.position - offset };
    if (keepFragments) this.pixelData = { tag, vr, encapsulated: true, value, basicOffsetTable: basicOffsetTable ?? [], fragments };
    return this.bulk({ tag, vr, ...value, encapsulated: true }, scope);
  }

  private pathOf(scope: Scope, tag: number): string {
    return [...scope.path, tagHex(tag)].join('/');
  }
}

const withItems = (items: DicomJsonDataSet[]): DicomJsonAttribute => (items.length > 0 ? { vr: 'SQ', Value: items } : { vr: 'SQ' });

function readTag(bytes: Buffer, littleEndian: boolean): number {
  const group = littleEndian ? bytes.readUInt16LE(0) : bytes.readUInt16BE(0);
  const element = littleEndian ? bytes.readUInt16LE(2) : bytes.readUInt16BE(2);
  return ((group << 16) | element) >>> 0;
}

function uint32Array(bytes: Buffer): number[] {
  const values: number[] = [];
  for (let offset = 0; offset + 4 <= bytes.length; offset += 4) values.push(bytes.readUInt32LE(offset));
  return values;
}
