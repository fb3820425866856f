// WADO-URI (PS3.18 9): GET /wado?requestType=WADO&studyUID=&seriesUID=&objectUID=, for legacy
// viewers. image/jpeg (the default) and image/png are rendered like the rendered resources;
// application/dicom is the instance in the transferSyntax asked, Explicit VR Little Endian when
// none is (PS3.18 9.4.2.4), chosen and transcoded as WADO-RS does; "*" gives the stored file.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Region, RenderedMediaType } from '../dicom/render.ts';
import { badRequest } from '../http/errors.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { DICOM_MEDIA_TYPE } from './multipart.ts';
import { locateInstances } from './locate.ts';
import { isUid, type ResourcePath } from './params.ts';
import { frameCountOf, frameNumbersOf } from './rendered-frames.ts';
import { renderStoredFrame, requireRenderable, type RenderingRequest } from './rendered-instance.ts';
import { checkAnnotation, checkedWindow, decimal, integer, qualityOf, single } from './rendered-params.ts';
import { chooseMediaType, parseAccept } from './accept.ts';
import { instanceBytes, selectTransferSyntax } from './wado-retrieve.ts';
import { sendSinglePart } from './wado-response.ts';

const CONTENT_TYPES = ['image/jpeg', 'image/png', DICOM_MEDIA_TYPE] as const;
/** Parameters that ask for a rendering, which PS3.18 9 does not allow with application/dicom. */
const RENDERING_PARAMETERS = ['annotation', 'rows', 'columns', 'region', 'windowCenter', 'windowWidth', 'frameNumber', 'imageQuality', 'presentationUID', 'presentationSeriesUID'];

export function wadoUriRoutes(services: DicomwebServices): Router {
  const router = Router();
  router.get('/wado', wadoUri(services));
  return router;
}

function wadoUri(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const requestType = single(req, 'requestType');
    if (requestType !== 'WADO') throw badRequest(`requestType must be WADO${requestType === undefined ? '' : `, not "${requestType}"`}`, 'requestType');
    const path = { study: uidOf(req, 'studyUID'), series: uidOf(req, 'seriesUID'), instance: uidOf(req, 'objectUID') };
    const contentType = chooseMediaType(parseAccept(single(req, 'contentType') ?? ''), CONTENT_TYPES);
    if (single(req, 'anonymize') !== undefined) throw badRequest('anonymize is not supported', 'anonymize');
    if (contentType === DICOM_MEDIA_TYPE) await sendStoredFile(services, req, res, path);
    else await sendRendered(services, req, res, path, contentType);
  };
}

/** application/dicom: the instance in the transferSyntax asked (a UID, or "*" for as stored), else the default; 406 when it cannot be. */
async function sendStoredFile(services: DicomwebServices, req: Request, res: Response, path: ResourcePath): Promise<void> {
  const rendering = RENDERING_PARAMETERS.find((name) => req.query[name] !== undefined);
  if (rendering) throw badRequest(`${rendering} is not allowed with contentType application/dicom`, rendering);
  const asked = single(req, 'transferSyntax');
  if (asked !== undefined && asked !== '*' && !isUid(asked)) throw badRequest(`transferSyntax "${asked}" is not a Transfer Syntax UID`, 'transferSyntax');
  const [instance] = await locateInstances(callerReader(services, req), path, { withPixelDescription: true });
  const { transferSyntax, transcode } = selectTransferSyntax(instance!, [{ transferSyntax: asked, multipart: false }]);
  await auditImagingRead(services, req, 'DICOM_RETRIEVE', [instance!.studyId]);
  if (!transcode) res.set('Content-Length', String(instance!.byteSize)); // legacy viewers show progress by it
  await sendSinglePart(res, DICOM_MEDIA_TYPE, instanceBytes(services.blobs, instance!, transferSyntax, transcode));
}

/** image/jpeg, image/png: one frame (frameNumber, else the first) rendered as the rendered resources are. */
async function sendRendered(services: DicomwebServices, req: Request, res: Response, path: ResourcePath, mediaType: RenderedMediaType): Promise<void> {
  if (req.query.transferSyntax !== undefined) throw badRequest('transferSyntax is allowed with contentType application/dicom only', 'transferSyntax');
  for (const name of ['presentationUID', 'presentationSeriesUID']) {
    if (req.query[name] !== undefined) throw badRequest(`${name}: presentation states are not applied`, name);
  }
  const request = renderingRequestOf(req, mediaType);
  const region = regionOf(req);
  const frameNumber = single(req, 'frameNumber') ?? '1';
  const frame = integer(frameNumber);
  if (frame === undefined || frame < 1) throw badRequest(`frameNumber "${frameNumber}" is not a frame number from 1`, 'frameNumber');
  const [instance] = await locateInstances(callerReader(services, req), path, { withMetadata: true });
  const image = requireRenderable(instance!);
  frameNumbersOf(String(frame), frameCountOf(instance!, image)); // 404 for a frame the instance does not have
  const viewport = region ? { ...request.viewport, region: region(image.columns, image.rows) } : request.viewport;
  const body = await renderStoredFrame(services, instance!, image, frame - 1, { ...request, viewport });
  await auditImagingRead(services, req, 'DICOM_RETRIEVE', [instance!.studyId]);
  res.status(200).type(mediaType).send(body);
}

function uidOf(req: Request, name: string): string {
  const value = single(req, name);
  if (value === undefined) throw badRequest(`${name} is required`, name);
  if (!isUid(value)) throw badRequest(`${name} "${value}" is not a valid UID`, name);
  return value;
}

/** rows, columns (the image is scaled to fit them, keeping its aspect ratio), windowCenter with windowWidth, imageQuality. */
function renderingRequestOf(req: Request, mediaType: RenderedMediaType): RenderingRequest {
  const annotation = single(req, 'annotation');
  if (annotation !== undefined) checkAnnotation(annotation);
  const [rows, columns] = (['rows', 'columns'] as const).map((name) => {
    const text = single(req, name);
    if (text === undefined) return undefined;
    const value = integer(text);
    if (value === undefined || value < 1) throw badRequest(`${name} "${text}" is not a positive integer`, name);
    return value;
  });
  const center = single(req, 'windowCenter');
  const width = single(req, 'windowWidth');
  if ((center === undefined) !== (width === undefined)) throw badRequest('windowCenter and windowWidth go together', center === undefined ? 'windowCenter' : 'windowWidth');
  const window = center === undefined ? undefined : { center: decimal(center), width: decimal(width) };
  if (window && (window.center === undefined || window.width === undefined)) throw badRequest(`window center "${center}" and width "${width}" are not decimal numbers`, 'windowCenter');
  const quality = single(req, 'imageQuality');
  return {
    mediaType,
    ...(rows !== undefined || columns !== undefined ? { viewport: { width: columns, height: rows } } : {}),
    ...(window ? { window: checkedWindow({ center: window.center!, width: window.width!, function: 'LINEAR' }, 'windowWidth') } : {}),
    ...(quality !== undefined ? { quality: qualityOf(quality, 'imageQuality') } : {}),
  };
}

/** PS3.18 9: region=xmin,ymin,xmax,ymax as fractions (0.0 to 1.0) of the image's width and height. */
function regionOf(req: Request): ((columns: number, rows: number) => Region) | undefined {
  const text = single(req, 'region');
  if (text === undefined) return undefined;
  const values = text.split(',').map(decimal);
  const [xMin, yMin, xMax, yMax] = values as number[];
  if (values.length !== 4 || values.some((value) => value === undefined || value < 0 || value > 1) || xMin! >= xMax! || yMin! >= yMax!) {
    throw badRequest(`region "${text}" is not xmin,ymin,xmax,ymax with 0 <= min < max <= 1`, 'region');
  }
  return (columns, rows) => {
    const x = Math.min(Math.floor(xMin! * columns), columns - 1);
    const y = Math.min(Math.floor(yMin! * rows), rows - 1);
    return { x, y, width: Math.max(1, Math.round(xMax! * columns) - x), height: Math.max(1, Math.round(yMax! * rows) - y) };
  };
}
