// One frame decoded from, or encoded into, a compressed Transfer Syntax by the WebAssembly builds
// of DCMTK (JPEG, RLE), CharLS (JPEG-LS), OpenJPEG (JPEG 2000), OpenJPH (HTJ2K) and libjxl that
// dcmjs-codecs ships. Its codec classes also apply the Image Pixel Module changes a (de)compression
// implies (PS3.5 8.2), e.g. a JPEG coded in YCbCr decodes to RGB.
import dcmjsCodecs from 'dcmjs-codecs';
import { decoderOf, encoderOf, EXPLICIT_VR_LITTLE_ENDIAN, type CodecFamily } from './transcode-syntaxes.ts';

/** The Image Pixel Module attributes (PS3.3 C.7.6.3) that say how a frame's bytes are laid out. */
export interface PixelDescription {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: number;
  planarConfiguration: number | undefined;
  photometricInterpretation: string;
  numberOfFrames: number;
}

/** The codec classes are picked by the Transfer Syntax of the family that covers the others (51 and 57 decode as 70). */
const CODEC_SYNTAX: Record<CodecFamily, string> = {
  'rle': '1.2.840.10008.1.2.5',
  'jpeg': '1.2.840.10008.1.2.4.70',
  'jpeg-ls': '1.2.840.10008.1.2.4.80',
  'jpeg-2000': '1.2.840.10008.1.2.4.90',
  'ht-jpeg-2000': '1.2.840.10008.1.2.4.201',
  'jpeg-xl': '1.2.840.10008.1.2.4.110',
};

/** The codecs work on 8 and 16-bit samples only. */
const CODEC_BITS_ALLOCATED = new Set([8, 16]);

type Elements = Record<string, unknown> & { PixelData: ArrayBuffer[] };
interface CodecClass {
  encode(elements: Elements, syntax: string, parameters?: Record<string, unknown>): Elements;
  decode(elements: Elements, syntax: string, parameters?: Record<string, unknown>): Elements;
}
const codecFor = (family: CodecFamily) =>
  (dcmjsCodecs.codecs.Codec as unknown as { getCodec(syntax: string): CodecClass }).getCodec(CODEC_SYNTAX[family]);

export class FrameCodecError extends Error {}

let initialised: Promise<void> | undefined;

/** The WebAssembly module is instantiated once per process, on first use. */
function ready(): Promise<void> {
  if (dcmjsCodecs.NativeCodecs.isInitialized()) return Promise.resolve();
  initialised ??= dcmjsCodecs.NativeCodecs.initializeAsync().catch((error: unknown) => {
    initialised = undefined;
    throw error;
  });
  return initialised;
}

export const canDecode = (transferSyntaxUID: string) => decoderOf(transferSyntaxUID) !== undefined;

/** The JPEG 2000 encoders of this build do not round-trip 16-bit colour samples: those are not encoded. */
const NO_WIDE_COLOUR: ReadonlySet<CodecFamily> = new Set(['jpeg-2000', 'ht-jpeg-2000']);

export function canEncode(transferSyntaxUID: string, description: Pick<PixelDescription, 'bitsAllocated' | 'samplesPerPixel'>): boolean {
  const family = encoderOf(transferSyntaxUID);
  if (!family || !CODEC_BITS_ALLOCATED.has(description.bitsAllocated)) return false;
  return !(NO_WIDE_COLOUR.has(family) && description.bitsAllocated > 8 && description.samplesPerPixel > 1);
}

/** Bytes of one native frame (PS3.5 8.1.1); YBR_FULL_422 keeps two samples per pixel. */
export function nativeFrameLength(description: PixelDescription): number {
  const samples = description.photometricInterpretation === 'YBR_FULL_422' && description.samplesPerPixel === 3 ? 2 : description.samplesPerPixel;
  return Math.ceil((description.rows * description.columns * samples * description.bitsAllocated) / 8);
}

export interface CodedFrame {
  bytes: Buffer;
  /** The description of the frame produced, e.g. RGB where a YCbCr JPEG was decoded. */
  description: PixelDescription;
}

/** The native (little endian) pixels of one frame encoded in `transferSyntaxUID`. */
export async function decodeFrame(encoded: Buffer, transferSyntaxUID: string, description: PixelDescription): Promise<CodedFrame> {
  const family = decoderOf(transferSyntaxUID);
  if (!family) throw new FrameCodecError(`frames in Transfer Syntax ${transferSyntaxUID} cannot be decoded`);
  await ready();
  const result = run(() => codecFor(family).decode(elementsOf(encoded, description), CODEC_SYNTAX[family]), 'decode', transferSyntaxUID);
  const decoded = descriptionOf(result, description);
  const pixels = Buffer.from(result.PixelData[0]!);
  // The codecs pad odd frames to an even length; a native frame has exactly its own bytes.
  return { bytes: pixels.subarray(0, nativeFrameLength(decoded)), description: decoded };
}

/** One native (little endian) frame encoded losslessly into `transferSyntaxUID`. */
export async function encodeFrame(pixels: Buffer, transferSyntaxUID: string, description: PixelDescription): Promise<CodedFrame> {
  const family = encoderOf(transferSyntaxUID);
  if (!family || !canEncode(transferSyntaxUID, description)) {
    throw new FrameCodecError(`frames of ${description.samplesPerPixel} sample(s) of ${description.bitsAllocated} bits cannot be encoded in Transfer Syntax ${transferSyntaxUID}`);
  }
  await ready();
  const result = run(() => codecFor(family).encode(elementsOf(pixels, description), EXPLICIT_VR_LITTLE_ENDIAN), 'encode', transferSyntaxUID);
  return { bytes: Buffer.from(result.PixelData[0]!), description: descriptionOf(result, description) };
}

function run(codec: () => Elements, action: string, transferSyntaxUID: string): Elements {
  try {
    return codec();
  } catch (error) {
    throw new FrameCodecError(`cannot ${action} a frame in Transfer Syntax ${transferSyntaxUID}: ${(error as Error).message}`);
  }
}

function elementsOf(bytes: Buffer, description: PixelDescription): Elements {
  return {
    Rows: description.rows, Columns: description.columns, SamplesPerPixel: description.samplesPerPixel,
    BitsAllocated: description.bitsAllocated, BitsStored: description.bitsStored, HighBit: description.highBit,
    PixelRepresentation: description.pixelRepresentation, PhotometricInterpretation: description.photometricInterpretation,
    ...(description.planarConfiguration !== undefined ? { PlanarConfiguration: description.planarConfiguration } : {}),
    NumberOfFrames: 1,
    PixelData: [bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer],
  };
}

function descriptionOf(elements: Elements, before: PixelDescription): PixelDescription {
  const planar = elements.PlanarConfiguration;
  return {
    ...before,
    photometricInterpretation: typeof elements.PhotometricInterpretation === 'string' ? elements.PhotometricInterpretation : before.photometricInterpretation,
    planarConfiguration: typeof planar === 'number' ? planar : before.planarConfiguration,
  };
}
