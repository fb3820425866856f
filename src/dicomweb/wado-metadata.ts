// WADO-RS Retrieve Metadata of a study, series or instance (PS3.18 10.4.1.1.2): the DICOM JSON
// of each instance (PS3.18 Annex F) kept at ingest, every attribute, bulk data as BulkDataURIs
// into this service. One indexed query; the stored objects are not read.
import type { RequestHandler } from 'express';
import { completeBulkDataURIs } from '../dicom/index.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { locateInstances, type StoredInstanceWithMetadata } from './locate.ts';
import { resourcePath } from './params.ts';
import { acceptedMediaRanges, expectDicomJsonAccepted, DICOM_JSON_MEDIA_TYPE } from './accept.ts';
import { sendSinglePart } from './wado-response.ts';

export function retrieveMetadata(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const path = resourcePath(req);
    expectDicomJsonAccepted(acceptedMediaRanges(req), 'metadata');
    const instances = await locateInstances(callerReader(services, req), path, { withMetadata: true });
    await auditImagingRead(services, req, 'DICOM_RETRIEVE', [...new Set(instances.map((instance) => instance.studyId))]);
    await sendSinglePart(res, DICOM_JSON_MEDIA_TYPE, jsonArray(instances, services.baseUrl));
  };
}

/** The array written one instance at a time, so a large series is never one string in memory. */
async function* jsonArray(instances: StoredInstanceWithMetadata[], baseUrl: string): AsyncGenerator<Buffer> {
  for (const [index, instance] of instances.entries()) {
    const instanceUrl = `${baseUrl}/studies/${instance.studyUid}/series/${instance.seriesUid}/instances/${instance.sopInstanceUid}`;
    const dataSet = completeBulkDataURIs(instance.metadata, (reference) => `${instanceUrl}/bulkdata/${reference}`);
    yield Buffer.from(`${index === 0 ? '[' : ','}${JSON.stringify(dataSet)}`);
  }
  yield Buffer.from(instances.length === 0 ? '[]' : ']');
}
