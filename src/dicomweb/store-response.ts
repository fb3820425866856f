// The Store Instances Response (PS3.18 10.5.3, Table 10.5.3-3) in the DICOM JSON model, and the
// HTTP status it goes with: 200 when every instance was stored, 202 when some failed, 409 when
// none was stored.
import type { DicomJsonDataSet } from '../dicom/index.ts';
import { instanceUrl, studyUrl } from './urls.ts';

export interface StoredReference {
  sopClassUid: string;
  sopInstanceUid: string;
  studyUid: string;
  seriesUid: string;
}

export interface FailedReference {
  /** Unknown when the part could not be read as an instance. */
  sopClassUid?: string;
  sopInstanceUid?: string;
  failureReason: number;
}

const uid = (value: string | undefined) => (value ? { vr: 'UI', Value: [value] } : { vr: 'UI' });
const url = (value: string) => ({ vr: 'UR', Value: [value] });

export function storeResponseStatus(stored: number, failed: number): 200 | 202 | 409 {
  if (failed === 0) return 200;
  return stored > 0 ? 202 : 409;
}

/** `baseUrl` is the public URL of the DICOMweb service, e.g. https://pacs.example/dicomweb. */
export function storeResponse(baseUrl: string, stored: StoredReference[], failed: FailedReference[]): DicomJsonDataSet {
  const response: DicomJsonDataSet = {};
  const studies = new Set(stored.map((reference) => reference.studyUid));
  // RetrieveURL names the study when the stored instances are all of one.
  if (studies.size === 1) response['00081190'] = url(studyUrl(baseUrl, [...studies][0]!));
  if (failed.length > 0) {
    response['00081198'] = {
      vr: 'SQ',
      Value: failed.map((reference) => ({
        '00081150': uid(reference.sopClassUid),
        '00081155': uid(reference.sopInstanceUid),
        '00081197': { vr: 'US', Value: [reference.failureReason] },
      })),
    };
  }
  if (stored.length > 0) {
    response['00081199'] = {
      vr: 'SQ',
      Value: stored.map((reference) => ({
        '00081150': uid(reference.sopClassUid),
        '00081155': uid(reference.sopInstanceUid),
        '00081190': url(instanceUrl(baseUrl, reference)),
      })),
    };
  }
  return response;
}
