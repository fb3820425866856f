// Where each frame of the Pixel Data is in the stored file, so a frames request reads only those
// bytes. Native pixel data: frames are consecutive, of Rows x Columns x Samples x Bits Allocated
// bits each (PS3.5 8.1.1). Encapsulated: PS3.5 A.4 (fragments, Basic and Extended Offset Tables).
import type { ByteRange, Fragment, PixelDataElement } from './data-set-reader.ts';
import { framesStartWithMarker } from './transfer-syntaxes.ts';

/** One frame: the bytes of `ranges`, read in order and concatenated (one range unless a frame spans several fragments). */
export interface Frame {
  length: number;
  ranges: ByteRange[];
}

export interface ImagePixelModule {
  rows: number | undefined;
  columns: number | undefined;
  samplesPerPixel: number | undefined;
  bitsAllocated: number | undefined;
  photometricInterpretation: string | undefined;
  numberOfFrames: number;
  transferSyntaxUID: string;
}

export type FrameLocation = { frames: Frame[]; warning?: string } | { unavailable: string };

export interface ExtendedOffsetTable {
  offsets?: Buffer;
  lengths?: Buffer;
}

export function locateFrames(pixelData: PixelDataElement, image: ImagePixelModule, extendedOffsetTable: ExtendedOffsetTable): FrameLocation {
  if (image.numberOfFrames < 1) return { unavailable: `Number of Frames is ${image.numberOfFrames}` };
  return pixelData.encapsulated
    ? encapsulatedFrames(pixelData.fragments, pixelData.basicOffsetTable, image, extendedOffsetTable)
    : nativeFrames(pixelData.value, image);
}

function nativeFrames(value: ByteRange, image: ImagePixelModule): FrameLocation {
  const { rows, columns, bitsAllocated, numberOfFrames } = image;
  if (!rows || !columns || !bitsAllocated) return { unavailable: 'Rows, Columns or Bits Allocated is missing' };
  const bitsPerFrame = rows * columns * storedSamplesPerPixel(image) * bitsAllocated;
  if (bitsPerFrame % 8 !== 0 && numberOfFrames > 1) {
    return { unavailable: 'frames of single-bit pixels do not start on byte boundaries; they must be unpacked from the whole Pixel Data' };
  }
  const frameLength = Math.ceil(bitsPerFrame / 8);
  if (frameLength * numberOfFrames > value.length) {
    return { unavailable: `Pixel Data holds ${value.length} bytes, fewer than ${numberOfFrames} frames of ${frameLength} bytes` };
  }
  const frames = Array.from({ length: numberOfFrames }, (_, index) => ({
    length: frameLength,
    ranges: [{ offset: value.offset + index * frameLength, length: frameLength }],
  }));
  return { frames };
}

/** PS3.3 C.7.6.3.1.2: native YBR_FULL_422 stores two luminance and two chrominance samples per two pixels. */
function storedSamplesPerPixel(image: ImagePixelModule): number {
  const samplesPerPixel = image.samplesPerPixel ?? 1;
  return image.photometricInterpretation === 'YBR_FULL_422' && samplesPerPixel === 3 ? 2 : samplesPerPixel;
}

function encapsulatedFrames(
  fragments: Fragment[],
  basicOffsetTable: number[],
  image: ImagePixelModule,
  extendedOffsetTable: ExtendedOffsetTable,
): FrameLocation {
  const { numberOfFrames } = image;
  if (fragments.length === 0) return { unavailable: 'the encapsulated Pixel Data has no fragments' };
  let warning: string | undefined;
  if (extendedOffsetTable.offsets) {
    const frames = framesFromExtendedOffsetTable(fragments, extendedOffsetTable, numberOfFrames);
    if (frames) return { frames };
    warning = 'the Extended Offset Table does not match the fragments; it was ignored';
  }
  if (basicOffsetTable.length > 0) {
    const frames = framesFromBasicOffsetTable(fragments, basicOffsetTable, numberOfFrames);
    if (frames) return { frames, warning };
    warning = 'the Basic Offset Table does not match the fragments; it was ignored';
  }
  if (fragments.length === numberOfFrames) return { frames: fragments.map((fragment) => frameOf([fragment])), warning };
  if (numberOfFrames === 1) return { frames: [frameOf(fragments)], warning };
  if (framesStartWithMarker(image.transferSyntaxUID)) {
    const groups = groupByFrameStart(fragments);
    if (groups?.length === numberOfFrames) return { frames: groups.map(frameOf), warning };
  }
  return { unavailable: `${fragments.length} fragments for ${numberOfFrames} frames, and no offset table says which frame each belongs to` };
}

const frameOf = (fragments: Fragment[]): Frame => ({
  length: fragments.reduce((sum, fragment) => sum + fragment.length, 0),
  ranges: fragments.map(({ offset, length }) => ({ offset, length })),
});

/** Offsets in both tables count from the first byte of the first fragment's Item tag, 8 bytes before its value. */
const itemOffsetsFromFirst = (fragments: Fragment[]) => fragments.map((fragment) => fragment.offset - fragments[0]!.offset);

function framesFromBasicOffsetTable(fragments: Fragment[], table: number[], numberOfFrames: number): Frame[] | undefined {
  if (table.length !== numberOfFrames) return undefined;
  const fragmentIndexAt = new Map(itemOffsetsFromFirst(fragments).map((offset, index) => [offset, index]));
  const starts = table.map((offset) => fragmentIndexAt.get(offset));
  if (starts[0] !== 0 || starts.some((start, i) => start === undefined || (i > 0 && start <= starts[i - 1]!))) return undefined;
  return starts.map((start, i) => frameOf(fragments.slice(start, starts[i + 1] ?? fragments.length)));
}

/** PS3.5 A.4: with an Extended Offset Table each frame is exactly one fragment. */
function framesFromExtendedOffsetTable(fragments: Fragment[], table: ExtendedOffsetTable, numberOfFrames: number): Frame[] | undefined {
  const offsets = uint64Array(table.offsets);
  const lengths = uint64Array(table.lengths);
  if (offsets.length !== numberOfFrames || lengths.length !== numberOfFrames) return undefined;
  const fragmentAt = new Map(itemOffsetsFromFirst(fragments).map((offset, index) => [offset, fragments[index]!]));
  const frames: Frame[] = [];
  for (const [i, offset] of offsets.entries()) {
    const fragment = fragmentAt.get(offset);
    const length = lengths[i]!;
    if (!fragment || length > fragment.length) return undefined;
    frames.push({ length, ranges: [{ offset: fragment.offset, length }] });
  }
  return frames;
}

/** Groups fragments into frames where a fragment opens with a JPEG SOI marker or a JPEG 2000 codestream or file start. */
function groupByFrameStart(fragments: Fragment[]): Fragment[][] | undefined {
  if (!startsFrame(fragments[0]!.firstBytes)) return undefined;
  const groups: Fragment[][] = [];
  for (const fragment of fragments) {
    if (startsFrame(fragment.firstBytes)) groups.push([fragment]);
    else groups[groups.length - 1]!.push(fragment);
  }
  return groups;
}

const JPEG_START_OF_IMAGE = Buffer.from([0xff, 0xd8, 0xff]);
const JPEG_2000_CODESTREAM_START = Buffer.from([0xff, 0x4f, 0xff, 0x51]); // SOC then SIZ
const JPEG_2000_SIGNATURE_BOX = Buffer.from([0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]);

const startsFrame = (bytes: Buffer) =>
  [JPEG_START_OF_IMAGE, JPEG_2000_CODESTREAM_START, JPEG_2000_SIGNATURE_BOX].some((marker) => bytes.subarray(0, marker.length).equals(marker));

function uint64Array(bytes: Buffer | undefined): number[] {
  const values: number[] = [];
  for (let offset = 0; bytes && offset + 8 <= bytes.length; offset += 8) values.push(Number(bytes.readBigUInt64LE(offset)));
  return values;
}
