// Rendering a frame of a stored instance into a rendered media type: what the rendered, thumbnail
// and WADO-URI resources share.
import {
  displayImageOf, encodeImage, isRenderableTransferSyntax, NotRenderableError, RegionOutsideImageError, renderableImageOf,
  type RenderableImage, type RenderedMediaType, type Viewport, type VoiWindow,
} from '../dicom/render.ts';
import { badRequest, notAcceptable } from '../http/errors.ts';
import type { DicomwebServices } from './context.ts';
import type { StoredInstanceWithMetadata } from './locate.ts';
import { readFrame } from './rendered-frames.ts';

export interface RenderingRequest {
  mediaType: RenderedMediaType;
  window?: VoiWindow;
  viewport?: Viewport;
  quality?: number;
  /** Whether the image may be scaled up to the viewport. */
  enlarge?: boolean;
}

/** The instance's rendering attributes, or why it cannot be rendered. */
export function renderabilityOf(instance: StoredInstanceWithMetadata): RenderableImage | NotRenderableError {
  try {
    const image = renderableImageOf(instance.metadata);
    if (!isRenderableTransferSyntax(instance.transferSyntaxUid)) {
      return new NotRenderableError(`pixel data in Transfer Syntax ${instance.transferSyntaxUid} is not rendered`);
    }
    return image;
  } catch (error) {
    if (error instanceof NotRenderableError) return error;
    throw error;
  }
}

/** The instance's rendering attributes; 406 when it has no image that can be rendered. */
export function requireRenderable(instance: StoredInstanceWithMetadata): RenderableImage {
  const image = renderabilityOf(instance);
  if (image instanceof NotRenderableError) throw notRenderable(instance, image);
  return image;
}

/** Frame `index` (from 0) of the instance, encoded as asked; HttpError 406 when it cannot be rendered, 400 for a viewport outside it. */
export async function renderStoredFrame(
  services: Pick<DicomwebServices, 'blobs'>, instance: StoredInstanceWithMetadata, image: RenderableImage, index: number, request: RenderingRequest,
): Promise<Buffer> {
  try {
    const bytes = await readFrame(services.blobs, instance, image, index);
    const display = await displayImageOf(image, instance.transferSyntaxUid, bytes, request.window);
    return await encodeImage(display, request);
  } catch (error) {
    if (error instanceof NotRenderableError) throw notRenderable(instance, error);
    if (error instanceof RegionOutsideImageError) throw badRequest(error.message, 'viewport');
    throw error;
  }
}

/**
 * PS3.18 8.7.4: an image is rendered as image/jpeg or image/png; an instance without one (a
 * structured report, say) has no representation in any rendered image media type.
 */
const notRenderable = (instance: StoredInstanceWithMetadata, reason: Error) =>
  notAcceptable(`instance ${instance.sopInstanceUid} cannot be rendered as an image: ${reason.message}`);
