// Rendering one frame of an instance for display (PS3.18 8.7.4 rendered media types): its bytes are
// decoded, grayscale goes through the Modality and VOI LUTs, colour becomes RGB; then it is encoded.
import { decodeFrame } from './render-decode.ts';
import type { DisplayImage } from './render-encode.ts';
import type { RenderableImage, VoiWindow } from './render-image.ts';
import { displayValues } from './render-voi.ts';

export { renderableImageOf, pixelDescriptionOf, NotRenderableError, type RenderableImage, type VoiWindow, type VoiFunction } from './render-image.ts';
export { isRenderableTransferSyntax } from './render-decode.ts';
export {
  encodeImage, RegionOutsideImageError, RENDERED_MEDIA_TYPES,
  type DisplayImage, type EncodeOptions, type RenderedMediaType, type Region, type Viewport,
} from './render-encode.ts';

/** The display pixels of one frame; `window` applies to grayscale images only (colour has no VOI LUT). */
export async function displayImageOf(image: RenderableImage, transferSyntaxUid: string, frameBytes: Buffer, window?: VoiWindow): Promise<DisplayImage> {
  const decoded = await decodeFrame(image, transferSyntaxUid, frameBytes);
  const size = { width: image.columns, height: image.rows };
  return decoded.kind === 'grayscale'
    ? { ...size, channels: 1, pixels: displayValues(image, decoded.values, window) }
    : { ...size, channels: 3, pixels: decoded.rgb };
}
