// One frame's bytes to pixel values: native frames are read as PS3.5 8 lays them out (Bits Allocated,
// Bits Stored, High Bit, Pixel Representation, byte order, Planar Configuration); encapsulated ones
// are decoded first, one frame at a time, by the codecs of transcode-codecs.ts.
import { canDecode, decodeFrame as decodeEncapsulatedFrame, FrameCodecError } from './transcode-codecs.ts';
import { EXPLICIT_VR_BIG_ENDIAN, isNative } from './transcode-syntaxes.ts';
import { isGrayscale, NotRenderableError, pixelDescriptionOf, type RenderableImage } from './render-image.ts';

export type DecodedFrame =
  /** Stored pixel values, row by row (Modality LUT not yet applied). */
  | { kind: 'grayscale'; values: Int32Array | Float64Array }
  /** 8-bit RGB, interleaved, row by row. */
  | { kind: 'color'; rgb: Uint8Array };

export const isRenderableTransferSyntax = (transferSyntaxUid: string) => isNative(transferSyntaxUid) || canDecode(transferSyntaxUid);

/** The pixels of one frame, given its bytes as stored (native) or as its encoded bitstream (encapsulated). */
export async function decodeFrame(image: RenderableImage, transferSyntaxUid: string, bytes: Buffer): Promise<DecodedFrame> {
  if (isNative(transferSyntaxUid)) return pixelsOf(image, bytes, transferSyntaxUid !== EXPLICIT_VR_BIG_ENDIAN);
  if (!canDecode(transferSyntaxUid)) throw new NotRenderableError(`pixel data in Transfer Syntax ${transferSyntaxUid} is not rendered`);
  try {
    const decoded = await decodeEncapsulatedFrame(bytes, transferSyntaxUid, pixelDescriptionOf(image));
    // Decoded frames are little endian; colour codecs give RGB for YCbCr JPEG and JPEG 2000 ICT/RCT.
    if (isGrayscale(image)) return pixelsOf(image, decoded.bytes, true);
    const { photometricInterpretation, planarConfiguration } = decoded.description;
    return pixelsOf({
      ...image,
      planarConfiguration: planarConfiguration === 1 ? 1 : 0,
      photometricInterpretation: ['YBR_ICT', 'YBR_RCT'].includes(photometricInterpretation) ? 'RGB' : photometricInterpretation,
    }, decoded.bytes, true);
  } catch (error) {
    if (error instanceof FrameCodecError) throw new NotRenderableError(error.message);
    throw error;
  }
}

function pixelsOf(image: RenderableImage, bytes: Uint8Array, littleEndian: boolean): DecodedFrame {
  const pixelCount = image.rows * image.columns;
  if (isGrayscale(image)) return { kind: 'grayscale', values: storedValues(image, bytes, pixelCount, littleEndian) };
  if (image.photometricInterpretation === 'YBR_FULL_422') return { kind: 'color', rgb: rgbOfYbrFull422(image, bytes, pixelCount) };
  if (image.photometricInterpretation !== 'RGB' && image.photometricInterpretation !== 'YBR_FULL') {
    throw new NotRenderableError(`Photometric Interpretation ${image.photometricInterpretation} is not rendered from this Transfer Syntax`);
  }
  if (image.photometricInterpretation === 'RGB' && image.bitsAllocated === 8 && image.bitsStored === 8 && image.planarConfiguration === 0) {
    if (bytes.length < pixelCount * 3) throw new NotRenderableError('the frame is shorter than its attributes need');
    return { kind: 'color', rgb: bytes.subarray(0, pixelCount * 3) };
  }
  const samples = storedValues({ ...image, signed: false }, bytes, pixelCount * 3, littleEndian);
  // Interleaved: R G B of a pixel are adjacent; planar: one plane of each after the other.
  const [step, second, third] = image.planarConfiguration === 1 ? [1, pixelCount, 2 * pixelCount] : [3, 1, 2];
  const scale = image.bitsStored > 8 ? 2 ** (image.bitsStored - 8) : 1;
  const ybr = image.photometricInterpretation === 'YBR_FULL';
  const rgb = new Uint8Array(pixelCount * 3);
  for (let pixel = 0; pixel < pixelCount; pixel++) {
    const at = pixel * step;
    const a = samples[at]! / scale;
    const b = samples[at + second]! / scale;
    const c = samples[at + third]! / scale;
    if (ybr) {
      writeRgbOfYbr(rgb, 3 * pixel, a, b, c);
    } else {
      rgb[3 * pixel] = a;
      rgb[3 * pixel + 1] = b;
      rgb[3 * pixel + 2] = c;
    }
  }
  return { kind: 'color', rgb };
}

/** Each sample's value: the Bits Stored bits ending at High Bit, sign-extended when Pixel Representation is 1 (PS3.5 8.1.1). */
function storedValues(image: RenderableImage, bytes: Uint8Array, count: number, littleEndian: boolean): Int32Array | Float64Array {
  const { bitsAllocated, bitsStored, highBit, signed } = image;
  const needed = Math.ceil((count * bitsAllocated) / 8);
  if (bytes.length < needed) throw new NotRenderableError(`the frame holds ${bytes.length} bytes, fewer than the ${needed} its attributes need`);
  if (bitsAllocated === 32) return values32(bytes, count, bitsStored, highBit, signed, littleEndian);
  const values = new Int32Array(count);
  if (bitsAllocated === 1) {
    for (let i = 0; i < count; i++) values[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
    return values;
  }
  values.set(bitsAllocated === 8 ? bytes.subarray(0, count) : words16(bytes, count, littleEndian));
  const shift = highBit + 1 - bitsStored;
  if (shift !== 0 || bitsStored !== bitsAllocated) keepStoredBits(values, shift, bitsStored);
  if (signed) signExtend(values, bitsStored);
  return values;
}

/** The 16-bit words as a Uint16Array in the platform's (little endian) order, copied only when unaligned or big endian. */
function words16(bytes: Uint8Array, count: number, littleEndian: boolean): Uint16Array {
  const aligned = bytes.byteOffset % 2 === 0 && littleEndian ? bytes : Buffer.from(bytes.subarray(0, 2 * count));
  if (!littleEndian) (aligned as Buffer).swap16();
  return new Uint16Array(aligned.buffer, aligned.byteOffset, count);
}

function keepStoredBits(values: Int32Array, shift: number, bitsStored: number): void {
  const mask = (1 << bitsStored) - 1;
  for (let i = 0; i < values.length; i++) values[i] = (values[i]! >>> shift) & mask;
}

/** Two's complement of `bits` bits: (v << (32 - bits)) >> (32 - bits). */
function signExtend(values: Int32Array, bits: number): void {
  const extend = 32 - bits;
  for (let i = 0; i < values.length; i++) values[i] = (values[i]! << extend) >> extend;
}

/** 32-bit samples, kept as doubles: unsigned ones do not fit an Int32Array. */
function values32(bytes: Uint8Array, count: number, bitsStored: number, highBit: number, signed: boolean, littleEndian: boolean): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shift = 2 ** (highBit + 1 - bitsStored);
  const range = 2 ** bitsStored;
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const value = Math.floor(view.getUint32(4 * i, littleEndian) / shift) % range;
    values[i] = signed && value >= range / 2 ? value - range : value;
  }
  return values;
}

/** PS3.3 C.7.6.3.1.2: YBR_FULL_422 stores Y1 Y2 Cb Cr for each two pixels of a row. */
function rgbOfYbrFull422(image: RenderableImage, bytes: Uint8Array, pixelCount: number): Uint8Array {
  if (image.bitsAllocated !== 8) throw new NotRenderableError('YBR_FULL_422 is rendered with 8 bits allocated only');
  if (bytes.length < pixelCount * 2) throw new NotRenderableError('the frame is shorter than its attributes need');
  const rgb = new Uint8Array(pixelCount * 3);
  for (let pixel = 0; pixel + 1 < pixelCount; pixel += 2) {
    const at = pixel * 2;
    const cb = bytes[at + 2]!;
    const cr = bytes[at + 3]!;
    writeRgbOfYbr(rgb, 3 * pixel, bytes[at]!, cb, cr);
    writeRgbOfYbr(rgb, 3 * pixel + 3, bytes[at + 1]!, cb, cr);
  }
  return rgb;
}

/** PS3.3 C.7.6.3.1.2, YBR_FULL (8 bits): the inverse of the ITU-R BT.601 full-range transform. */
function writeRgbOfYbr(rgb: Uint8Array, at: number, y: number, cb: number, cr: number): void {
  rgb[at] = clampByte(y + 1.402 * (cr - 128));
  rgb[at + 1] = clampByte(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128));
  rgb[at + 2] = clampByte(y + 1.772 * (cb - 128));
}

const clampByte = (value: number) => (value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value));
