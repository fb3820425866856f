// WADO-RS Retrieve Metadata of a study, series or instance (PS3.18 10.4.1.1.2): the DICOM JSON
// of each instance (PS3.18 Annex F) kept at ingest, every attribute, bulk data as BulkDataURIs
// into this service; or the same as XML (PS3.19 Native DICOM Model), one instance per part. One
// indexed query; the stored objects are not read.
import type { RequestHandler } from 'express';
import { nativeDicomModel } from '../dicom/index.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { locateInstances, type StoredInstanceWithMetadata } from './locate.ts';
import { resourcePath } from './params.ts';
import { acceptedMediaRanges, chooseDataSetMediaType, DICOM_JSON_MEDIA_TYPE } from './accept.ts';
import { withBulkDataURIs } from './urls.ts';
import { sendMultipart, sendSinglePart } from './wado-response.ts';

export function retrieveMetadata(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const path = resourcePath(req);
    const mediaType = chooseDataSetMediaType(acceptedMediaRanges(req), 'metadata', 'multipart');
    const instances = await locateInstances(callerReader(services, req), path, { withMetadata: true });
    await auditImagingRead(services, req, 'DICOM_RETRIEVE', [...new Set(instances.map((instance) => instance.studyId))]);
    if (mediaType === DICOM_JSON_MEDIA_TYPE) await sendSinglePart(res, mediaType, jsonArray(instances, services.baseUrl));
    else await sendMultipart(res, mediaType, xmlParts(instances, services.baseUrl, mediaType));
  };
}

/** The array written one instance at a time, so a large series is never one string in memory. */
async function* jsonArray(instances: StoredInstanceWithMetadata[], baseUrl: string): AsyncGenerator<Buffer> {
  for (const [index, instance] of instances.entries()) {
    yield Buffer.from(`${index === 0 ? '[' : ','}${JSON.stringify(dataSetOf(instance, baseUrl))}`);
  }
  yield Buffer.from(instances.length === 0 ? '[]' : ']');
}

function* xmlParts(instances: StoredInstanceWithMetadata[], baseUrl: string, contentType: string) {
  for (const instance of instances) yield { contentType, body: Buffer.from(nativeDicomModel(dataSetOf(instance, baseUrl))) };
}

const dataSetOf = (instance: StoredInstanceWithMetadata, baseUrl: string) => withBulkDataURIs(instance.metadata, baseUrl, instance);
