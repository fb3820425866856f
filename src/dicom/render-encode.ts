// 8-bit display pixels to a rendered media type (PS3.18 8.7.4): cropped and scaled to a viewport
// (PS3.18 8.3.5.1.3), encoded by sharp as baseline JPEG or PNG.
import sharp from 'sharp';

export type RenderedMediaType = 'image/jpeg' | 'image/png';
export const RENDERED_MEDIA_TYPES: readonly RenderedMediaType[] = ['image/jpeg', 'image/png'];

/** Display pixels, 1 (grayscale) or 3 (RGB) interleaved 8-bit channels, row by row. */
export interface DisplayImage {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

/**
 * Source region in pixels of the image, from its top left corner. A negative width (height) takes
 * the columns (rows) to the left of (above) x (y) and flips the result horizontally (vertically).
 */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The rendered image (or its region) is scaled to fit inside width x height, keeping its aspect ratio; a missing one does not bound it. */
export interface Viewport {
  width?: number;
  height?: number;
  region?: Region;
}

export interface EncodeOptions {
  mediaType: RenderedMediaType;
  /** JPEG quality, 1..100. */
  quality?: number;
  viewport?: Viewport;
  /** Whether an image smaller than the viewport is scaled up to fit it (thumbnails are not). */
  enlarge?: boolean;
}

const DEFAULT_JPEG_QUALITY = 90;

/** The region asked lies (partly) outside the image. */
export class RegionOutsideImageError extends Error {}

export async function encodeImage(image: DisplayImage, options: EncodeOptions): Promise<Buffer> {
  let pipeline = sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: image.channels } });
  const region = options.viewport?.region;
  if (region) {
    const area = areaOf(region, image);
    pipeline = pipeline.extract(area);
    if (region.width < 0) pipeline = pipeline.flop();
    if (region.height < 0) pipeline = pipeline.flip();
  }
  const { width, height } = options.viewport ?? {};
  if (width !== undefined || height !== undefined) {
    pipeline = pipeline.resize(width ?? null, height ?? null, { fit: 'inside', withoutEnlargement: options.enlarge === false });
  }
  // Some operations (extract) turn a one-channel image into sRGB; grayscale stays one channel.
  if (image.channels === 1) pipeline = pipeline.toColourspace('b-w');
  return options.mediaType === 'image/png'
    ? pipeline.png().toBuffer()
    : pipeline.jpeg({ quality: options.quality ?? DEFAULT_JPEG_QUALITY, progressive: false }).toBuffer();
}

function areaOf(region: Region, image: DisplayImage) {
  const left = region.width < 0 ? region.x + region.width : region.x;
  const top = region.height < 0 ? region.y + region.height : region.y;
  const width = Math.abs(region.width);
  const height = Math.abs(region.height);
  if (width === 0 || height === 0 || left < 0 || top < 0 || left + width > image.width || top + height > image.height) {
    throw new RegionOutsideImageError(`the region ${width}x${height} at (${left},${top}) is not inside the ${image.width}x${image.height} image`);
  }
  return { left, top, width, height };
}
