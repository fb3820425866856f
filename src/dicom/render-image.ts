// What rendering an instance needs to know, read from its stored DICOM JSON: the Image Pixel module
// (PS3.3 C.7.6.3), the Modality LUT's rescale (C.11.1) and the VOI LUT's window (C.11.2).
import type { DicomJsonDataSet } from './dicom-json.ts';
import type { PixelDescription } from './transcode-codecs.ts';

/** PS3.3 C.11.2.1.3: VOI LUT Function. */
export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export interface VoiWindow {
  center: number;
  width: number;
  function: VoiFunction;
}

export interface RenderableImage extends Omit<PixelDescription, 'pixelRepresentation' | 'planarConfiguration'> {
  /** Pixel Representation 1: two's complement samples. */
  signed: boolean;
  /** 0: samples of a pixel are adjacent (R1 G1 B1 R2...); 1: one plane per sample (R1 R2... G1 G2...). */
  planarConfiguration: 0 | 1;
  rescale: { slope: number; intercept: number };
  /** The first Window Center / Width pair of the instance, with its VOI LUT Function. */
  storedWindow?: VoiWindow;
}

/** The instance cannot be presented as an image (no pixel data, or pixels of a kind that is not rendered). */
export class NotRenderableError extends Error {}

const GRAYSCALE = new Set(['MONOCHROME1', 'MONOCHROME2']);
/** YBR_PARTIAL_*, YBR_ICT and YBR_RCT occur only with compressed Transfer Syntaxes, whose decoders give RGB. */
const COLOR = new Set(['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_PARTIAL_422', 'YBR_PARTIAL_420', 'YBR_ICT', 'YBR_RCT']);
const VOI_FUNCTIONS = new Set<string>(['LINEAR', 'LINEAR_EXACT', 'SIGMOID']);

export const isGrayscale = (image: Pick<RenderableImage, 'photometricInterpretation'>) => GRAYSCALE.has(image.photometricInterpretation);

/** The rendering attributes of an instance; NotRenderableError when it holds no image that is rendered here. */
export function renderableImageOf(dataSet: DicomJsonDataSet): RenderableImage {
  if (dataSet['7FE00008'] || dataSet['7FE00009']) throw new NotRenderableError('float pixel data is not rendered');
  if (!dataSet['7FE00010']) throw new NotRenderableError('the instance has no Pixel Data');
  const first = (tag: string) => dataSet[tag]?.Value?.[0];
  const number = (tag: string) => {
    const value = first(tag);
    return (typeof value === 'number' || typeof value === 'string') && value !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined;
  };
  const rows = number('00280010');
  const columns = number('00280011');
  const bitsAllocated = number('00280100');
  const photometricInterpretation = String(first('00280004') ?? '').trim().toUpperCase();
  if (!rows || !columns || !bitsAllocated) throw new NotRenderableError('Rows, Columns or Bits Allocated is missing');
  if (![1, 8, 16, 32].includes(bitsAllocated)) throw new NotRenderableError(`Bits Allocated ${bitsAllocated} is not rendered`);
  const samplesPerPixel = number('00280002') ?? 1;
  const grayscale = GRAYSCALE.has(photometricInterpretation) && samplesPerPixel === 1;
  const color = COLOR.has(photometricInterpretation) && samplesPerPixel === 3;
  if (!grayscale && !color) {
    throw new NotRenderableError(`Photometric Interpretation ${photometricInterpretation || '(none)'} with ${samplesPerPixel} samples per pixel is not rendered`);
  }
  const bitsStored = Math.min(number('00280101') ?? bitsAllocated, bitsAllocated);
  return {
    rows,
    columns,
    samplesPerPixel,
    bitsAllocated,
    bitsStored,
    highBit: Math.min(number('00280102') ?? bitsStored - 1, bitsAllocated - 1),
    signed: number('00280103') === 1,
    photometricInterpretation,
    planarConfiguration: number('00280006') === 1 ? 1 : 0,
    numberOfFrames: Math.max(1, Math.trunc(number('00280008') ?? 1)),
    rescale: { slope: number('00281053') || 1, intercept: number('00281052') ?? 0 },
    ...storedWindowOf(number('00281050'), number('00281051'), first('00281056')),
  };
}

/** The image's layout as the frame codecs describe it. */
export const pixelDescriptionOf = (image: RenderableImage): PixelDescription => ({ ...image, pixelRepresentation: image.signed ? 1 : 0 });

function storedWindowOf(center: number | undefined, width: number | undefined, voiFunction: unknown): { storedWindow?: VoiWindow } {
  if (center === undefined || width === undefined) return {};
  const name = String(voiFunction ?? 'LINEAR').trim().toUpperCase();
  const fn = (VOI_FUNCTIONS.has(name) ? name : 'LINEAR') as VoiFunction;
  // PS3.3 C.11.2.1.2: width >= 1 for LINEAR, > 0 otherwise; a stored window that breaks this is not used.
  if (fn === 'LINEAR' ? width < 1 : width <= 0) return {};
  return { storedWindow: { center, width, function: fn } };
}
