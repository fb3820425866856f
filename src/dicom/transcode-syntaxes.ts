// What each Transfer Syntax (PS3.5 section 10, Annex A) means for serving and transcoding an
// instance: native or encapsulated, lossy or not, its media type for pixel data (PS3.18 Table
// 8.7.3-5), and whether the codecs of transcode-codecs.ts can decode or encode it.
export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';

/** Native (uncompressed) pixel data: written as the data set's other values are. */
export const NATIVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN,
]);

export const isNative = (transferSyntaxUID: string) => NATIVE_TRANSFER_SYNTAXES.has(transferSyntaxUID);

interface EncapsulatedSyntax {
  /** PS3.18 Table 8.7.3-5; the first name is the standard one, the others are names clients also send. */
  mediaTypes: string[];
  lossy: boolean;
  /** The codec family of dcmjs-codecs that decodes its frames. */
  decoder?: CodecFamily;
  /** Set when frames can be encoded into it; only lossless encodings are produced. */
  encoder?: CodecFamily;
}

export type CodecFamily = 'rle' | 'jpeg' | 'jpeg-ls' | 'jpeg-2000' | 'ht-jpeg-2000' | 'jpeg-xl';

const JPEG = ['image/jpeg'];
const RLE = ['image/dicom-rle', 'image/x-dicom-rle'];
const JPEG_LS = ['image/jls', 'image/x-jls'];
const JPEG_2000 = ['image/jp2'];
const JPEG_2000_PART_2 = ['image/jpx'];
const HT_JPEG_2000 = ['image/jphc', 'image/jhc'];
const JPEG_XL = ['image/jxl'];
const MPEG_2 = ['video/mpeg'];
const MPEG_4 = ['video/mp4'];
const HEVC = ['video/h265'];

const ENCAPSULATED: Record<string, EncapsulatedSyntax> = {
  '1.2.840.10008.1.2.5': { mediaTypes: RLE, lossy: false, decoder: 'rle', encoder: 'rle' },
  '1.2.840.10008.1.2.4.50': { mediaTypes: JPEG, lossy: true, decoder: 'jpeg' },
  '1.2.840.10008.1.2.4.51': { mediaTypes: JPEG, lossy: true, decoder: 'jpeg' },
  '1.2.840.10008.1.2.4.57': { mediaTypes: JPEG, lossy: false, decoder: 'jpeg' },
  '1.2.840.10008.1.2.4.70': { mediaTypes: JPEG, lossy: false, decoder: 'jpeg', encoder: 'jpeg' },
  '1.2.840.10008.1.2.4.80': { mediaTypes: JPEG_LS, lossy: false, decoder: 'jpeg-ls', encoder: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { mediaTypes: JPEG_LS, lossy: true, decoder: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { mediaTypes: JPEG_2000, lossy: false, decoder: 'jpeg-2000', encoder: 'jpeg-2000' },
  '1.2.840.10008.1.2.4.91': { mediaTypes: JPEG_2000, lossy: true, decoder: 'jpeg-2000' },
  '1.2.840.10008.1.2.4.92': { mediaTypes: JPEG_2000_PART_2, lossy: false },
  '1.2.840.10008.1.2.4.93': { mediaTypes: JPEG_2000_PART_2, lossy: true },
  '1.2.840.10008.1.2.4.201': { mediaTypes: HT_JPEG_2000, lossy: false, decoder: 'ht-jpeg-2000', encoder: 'ht-jpeg-2000' },
  '1.2.840.10008.1.2.4.202': { mediaTypes: HT_JPEG_2000, lossy: false, decoder: 'ht-jpeg-2000' },
  '1.2.840.10008.1.2.4.203': { mediaTypes: HT_JPEG_2000, lossy: true, decoder: 'ht-jpeg-2000' },
  '1.2.840.10008.1.2.4.110': { mediaTypes: JPEG_XL, lossy: false, decoder: 'jpeg-xl' },
  '1.2.840.10008.1.2.4.112': { mediaTypes: JPEG_XL, lossy: true, decoder: 'jpeg-xl' },
  '1.2.840.10008.1.2.4.100': { mediaTypes: MPEG_2, lossy: true },
  '1.2.840.10008.1.2.4.101': { mediaTypes: MPEG_2, lossy: true },
  '1.2.840.10008.1.2.4.102': { mediaTypes: MPEG_4, lossy: true },
  '1.2.840.10008.1.2.4.103': { mediaTypes: MPEG_4, lossy: true },
  '1.2.840.10008.1.2.4.104': { mediaTypes: MPEG_4, lossy: true },
  '1.2.840.10008.1.2.4.105': { mediaTypes: MPEG_4, lossy: true },
  '1.2.840.10008.1.2.4.106': { mediaTypes: MPEG_4, lossy: true },
  '1.2.840.10008.1.2.4.107': { mediaTypes: HEVC, lossy: true },
  '1.2.840.10008.1.2.4.108': { mediaTypes: HEVC, lossy: true },
};

/** PS3.18 Table 8.7.3-5: the Transfer Syntax a compressed media type stands for when the request names none. */
const DEFAULT_SYNTAX_OF_MEDIA_TYPE: Record<string, string> = {
  'image/jpeg': '1.2.840.10008.1.2.4.70',
  'image/dicom-rle': '1.2.840.10008.1.2.5',
  'image/jls': '1.2.840.10008.1.2.4.80',
  'image/jp2': '1.2.840.10008.1.2.4.90',
  'image/jpx': '1.2.840.10008.1.2.4.92',
  'image/jphc': '1.2.840.10008.1.2.4.201',
  'image/jxl': '1.2.840.10008.1.2.4.110',
  'video/mpeg': '1.2.840.10008.1.2.4.101',
  'video/mp4': '1.2.840.10008.1.2.4.102',
  'video/h265': '1.2.840.10008.1.2.4.107',
};

export const isEncapsulated = (transferSyntaxUID: string) => transferSyntaxUID in ENCAPSULATED;
export const isLossy = (transferSyntaxUID: string) => ENCAPSULATED[transferSyntaxUID]?.lossy ?? false;
export const decoderOf = (transferSyntaxUID: string) => ENCAPSULATED[transferSyntaxUID]?.decoder;
export const encoderOf = (transferSyntaxUID: string) => ENCAPSULATED[transferSyntaxUID]?.encoder;

/** The standard name of a media type a client may send under another name (image/x-jls is image/jls). */
export function canonicalMediaType(mediaType: string): string {
  const lower = mediaType.toLowerCase();
  for (const syntax of Object.values(ENCAPSULATED)) if (syntax.mediaTypes.includes(lower)) return syntax.mediaTypes[0]!;
  return lower;
}

/** The compressed media type of an encapsulated Transfer Syntax; application/octet-stream for the native ones. */
export const mediaTypeOfSyntax = (transferSyntaxUID: string) => ENCAPSULATED[transferSyntaxUID]?.mediaTypes[0] ?? 'application/octet-stream';

/** The Transfer Syntaxes a compressed media type (canonical name) may carry. */
export const syntaxesOfMediaType = (mediaType: string) =>
  Object.entries(ENCAPSULATED).filter(([, syntax]) => syntax.mediaTypes[0] === mediaType).map(([uid]) => uid);

export const defaultSyntaxOfMediaType = (mediaType: string): string | undefined => DEFAULT_SYNTAX_OF_MEDIA_TYPE[mediaType];
