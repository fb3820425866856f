// Rendered resources (PS3.18 10.4.1.1.3, 10.4.1.1.4: rendered and thumbnail) and WADO-URI (PS3.18 9).
// An instance or one frame is answered as one image; a study, a series or several frames as
// multipart/related, one rendered image per part (the first frame of each instance of a study or series).
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { NotRenderableError, RENDERED_MEDIA_TYPES, type RenderableImage } from '../dicom/render.ts';
import { notAcceptable } from '../http/errors.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { locateInstances, type StoredInstanceWithMetadata } from './locate.ts';
import { resourcePath, type ResourcePath } from './params.ts';
import { frameCountOf, frameNumbersOf } from './rendered-frames.ts';
import { renderabilityOf, renderStoredFrame, requireRenderable, type RenderingRequest } from './rendered-instance.ts';
import { renderingParameters } from './rendered-params.ts';
import { acceptedMediaRanges, chooseMediaType } from './accept.ts';
import { sendMultipart, type ResponsePart } from './wado-response.ts';
import { wadoUriRoutes } from './wado-uri.ts';
import { instanceUrl } from './urls.ts';

/** A thumbnail fits in this square unless a viewport is asked; smaller images are not enlarged. */
const THUMBNAIL_SIZE = 128;

const INSTANCE = '/studies/:study/series/:series/instances/:instance';

export function renderedRoutes(services: DicomwebServices): Router {
  const router = Router();
  const rendered = renderedResource(services);
  const thumbnail = thumbnailResource(services);
  for (const resource of ['/studies/:study', '/studies/:study/series/:series', INSTANCE, `${INSTANCE}/frames/:frames`]) {
    router.get(`${resource}/rendered`, rendered);
    router.get(`${resource}/thumbnail`, thumbnail);
  }
  router.use(wadoUriRoutes(services));
  return router;
}

interface Located {
  path: ResourcePath;
  request: RenderingRequest;
  instances: StoredInstanceWithMetadata[];
}

/** The checks every rendered resource makes, in order: path (400), query (400), Accept (406), the instances (404). */
async function locate(services: DicomwebServices, req: Request): Promise<Located> {
  const path = resourcePath(req);
  const request = { ...renderingParameters(req), mediaType: chooseMediaType(acceptedMediaRanges(req), RENDERED_MEDIA_TYPES) };
  const instances = await locateInstances(callerReader(services, req), path, { withMetadata: true });
  return { path, request, instances };
}

function renderedResource(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const { path, request, instances } = await locate(services, req);
    if (path.instance) {
      const instance = instances[0]!;
      const image = requireRenderable(instance);
      // A multi-frame instance asked as one image is its first frame; /frames/{n}/rendered gives the others.
      const frames = req.params.frames === undefined ? [1] : frameNumbersOf(String(req.params.frames), frameCountOf(instance, image));
      const renders = frames.map((frame) => async () => ({ body: await renderStoredFrame(services, instance, image, frame - 1, request) }));
      if (renders.length === 1) await sendImage(services, req, res, request, (await renders[0]!()).body, [instance.studyId]);
      else await sendParts(services, req, res, request, renders, [instance.studyId]);
      return;
    }
    const renderable = instances.flatMap((instance) => {
      const image = renderabilityOf(instance);
      return image instanceof NotRenderableError ? [] : [{ instance, image }];
    });
    if (renderable.length === 0) throw notAcceptable(`no instance of ${describe(path)} can be rendered as an image`);
    const renders = renderable.map(({ instance, image }) => async () => ({
      body: await renderStoredFrame(services, instance, image, 0, request),
      location: renderedUrl(services, instance),
    }));
    await sendParts(services, req, res, request, renders, [renderable[0]!.instance.studyId]);
  };
}

/** PS3.18 10.4.1.1.4: one small image that stands for the resource (see `representative`). */
function thumbnailResource(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const located = await locate(services, req);
    const request = located.request.viewport
      ? located.request
      : { ...located.request, viewport: { width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE }, enlarge: false };
    const frameList = req.params.frames === undefined ? undefined : String(req.params.frames);
    const { instance, image, frameIndex } = representative(located.instances, located.path, frameList);
    await sendImage(services, req, res, request, await renderStoredFrame(services, instance, image, frameIndex, request), [instance.studyId]);
  };
}

/**
 * The image a thumbnail shows: the frames resource's first frame; otherwise the middle frame (a
 * volume's middle slice) of the middle renderable instance of the first series that has one.
 */
function representative(instances: StoredInstanceWithMetadata[], path: ResourcePath, frameList: string | undefined) {
  if (path.instance) {
    const instance = instances[0]!;
    const image = requireRenderable(instance);
    const frameCount = frameCountOf(instance, image);
    const frameIndex = frameList === undefined ? middle(frameCount) : frameNumbersOf(frameList, frameCount)[0]! - 1;
    return { instance, image, frameIndex };
  }
  const renderable: { instance: StoredInstanceWithMetadata; image: RenderableImage }[] = [];
  for (const instance of instances) {
    if (renderable.length > 0 && instance.seriesId !== renderable[0]!.instance.seriesId) break;
    const image = renderabilityOf(instance);
    if (!(image instanceof NotRenderableError)) renderable.push({ instance, image });
  }
  if (renderable.length === 0) throw notAcceptable(`no instance of ${describe(path)} can be rendered as an image`);
  const chosen = renderable[middle(renderable.length)]!;
  return { ...chosen, frameIndex: middle(frameCountOf(chosen.instance, chosen.image)) };
}

/** One rendered image of a multipart answer (all parts share the rendered media type). */
type RenderedPart = Omit<ResponsePart, 'contentType'>;

const middle = (count: number) => Math.floor((count - 1) / 2);

/**
 * Several rendered images as multipart/related, each rendered as it is sent. The first is rendered
 * before anything is sent, so that a request that cannot be answered (400, 406) gets a clean error.
 */
async function sendParts(
  services: DicomwebServices, req: Request, res: Response, request: RenderingRequest, renders: (() => Promise<RenderedPart>)[], studyIds: string[],
): Promise<void> {
  const first = await renders[0]!();
  await auditImagingRead(services, req, 'DICOM_RETRIEVE', studyIds, { parts: renders.length });
  const { mediaType } = request;
  await sendMultipart(res, mediaType, (async function* () {
    yield { contentType: mediaType, ...first };
    for (const render of renders.slice(1)) yield { contentType: mediaType, ...(await render()) };
  })());
}

/** One rendered image, after the read is audited. */
async function sendImage(services: DicomwebServices, req: Request, res: Response, request: RenderingRequest, body: Buffer, studyIds: string[]): Promise<void> {
  await auditImagingRead(services, req, 'DICOM_RETRIEVE', studyIds);
  res.status(200).type(request.mediaType).send(body);
}

const renderedUrl = (services: DicomwebServices, instance: StoredInstanceWithMetadata) => `${instanceUrl(services.baseUrl, instance)}/rendered`;

function describe(path: ResourcePath): string {
  return path.series ? `series ${path.series}` : `study ${path.study}`;
}
