// The public URLs of this service's resources (RetrieveURL, BulkDataURI, Content-Location), under
// its configured base URL, e.g. https://pacs.example/dicomweb.
import { completeBulkDataURIs, type DicomJsonDataSet } from '../dicom/index.ts';

/** The UIDs that name an instance. */
export interface InstanceUids {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
}

export const studyUrl = (baseUrl: string, studyUid: string) => `${baseUrl}/studies/${studyUid}`;

export const instanceUrl = (baseUrl: string, { studyUid, seriesUid, sopInstanceUid }: InstanceUids) =>
  `${studyUrl(baseUrl, studyUid)}/series/${seriesUid}/instances/${sopInstanceUid}`;

/** An instance's stored DICOM JSON as served: its bulk data named by BulkDataURIs of this service. */
export const withBulkDataURIs = (dataSet: DicomJsonDataSet, baseUrl: string, instance: InstanceUids): DicomJsonDataSet =>
  completeBulkDataURIs(dataSet, (reference) => `${instanceUrl(baseUrl, instance)}/bulkdata/${reference}`);
