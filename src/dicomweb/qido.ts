// QIDO-RS (PS3.18 10.6): search for studies, series and instances, answered as
// application/dicom+json, or as XML (multipart/related; type="application/dicom+xml", one result
// per part), from one indexed SQL query per request (see qido-sql.ts).
import { Router, type Request, type Response } from 'express';
import { nativeDicomModel, type DicomJsonDataSet } from '../dicom/index.ts';
import { requireCaller } from '../http/context.ts';
import { acceptedMediaRanges, chooseDataSetMediaType, DICOM_JSON_MEDIA_TYPE } from './accept.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { uidParam } from './params.ts';
import type { QueryLevel } from './qido-attributes.ts';
import { readSearch, type QidoTarget } from './qido-request.ts';
import { qidoQuery, type QidoRow } from './qido-sql.ts';
import { withBulkDataURIs } from './urls.ts';
import { sendMultipart } from './wado-response.ts';

export interface QidoOptions {
  /** The most results one response holds (PS3.18 8.3.4.4.1 maxResults); a larger limit is cut, with a Warning. */
  maxResults: number;
}

export const DEFAULT_QIDO_OPTIONS: QidoOptions = { maxResults: 10_000 };

const SEARCHES: [path: string, level: QueryLevel][] = [
  ['/studies', 'study'],
  ['/series', 'series'],
  ['/instances', 'instance'],
  ['/studies/:study/series', 'series'],
  ['/studies/:study/instances', 'instance'],
  ['/studies/:study/series/:series/instances', 'instance'],
];

/** What a search needs of the DICOMweb services. */
type QidoServices = Pick<DicomwebServices, 'db' | 'audit' | 'baseUrl'>;

export function qidoRoutes(services: QidoServices, options: QidoOptions = DEFAULT_QIDO_OPTIONS): Router {
  const router = Router();
  for (const [path, level] of SEARCHES) {
    router.get(path, (req, res) => search(services, options, req, res, level));
  }
  return router;
}

async function search(services: QidoServices, options: QidoOptions, req: Request, res: Response, level: QueryLevel): Promise<void> {
  const mediaType = chooseDataSetMediaType(acceptedMediaRanges(req), 'a QIDO-RS result', 'multipart');
  const target: QidoTarget = {
    level,
    ...(req.params.study !== undefined ? { study: uidParam(req, 'study') } : {}),
    ...(req.params.series !== undefined ? { series: uidParam(req, 'series') } : {}),
  };
  const searched = readSearch(target, new URL(req.originalUrl, 'http://localhost').searchParams);
  const pageSize = Math.min(searched.limit ?? options.maxResults, options.maxResults);
  const { tenantId } = requireCaller(req);

  // Each query a transaction of its own (lighter than one knex transaction for both): the count
  // only says how many more results a Warning offers.
  const query = qidoQuery(callerReader(services, req), tenantId, searched, services.baseUrl);
  // One row more than the page tells whether matches remain; only then are they counted.
  const rows = await query.results(pageSize + 1);
  let remaining = 0;
  if (rows.length > pageSize) {
    rows.length = pageSize;
    remaining = (await query.count()) - searched.offset - pageSize;
  }

  await auditImagingRead(services, req, 'DICOM_QUERY', [...new Set(rows.map((row) => row.studyRowId))], { level, results: rows.length });
  const warnings = [...searched.warnings, ...(remaining > 0 ? [`There are ${remaining} additional results that can be requested`] : [])];
  for (const warning of warnings) res.append('Warning', `299 ${services.baseUrl}: ${warning}`);
  if (mediaType === DICOM_JSON_MEDIA_TYPE) {
    res.status(200).type(DICOM_JSON_MEDIA_TYPE).send(`[${rows.map((row) => resultText(row, services.baseUrl)).join(',')}]`);
  } else if (rows.length === 0) {
    res.status(204).end(); // a multipart body has at least one part (RFC 2046 5.1.1)
  } else {
    await sendMultipart(res, mediaType, rows.map((row) => ({
      contentType: mediaType, body: Buffer.from(nativeDicomModel(resultDataSet(row, services.baseUrl))),
    })));
  }
}

/** A result as sent, in JSON: the query's text, unless instance attributes that are bulk data are to name it by a BulkDataURI. */
function resultText(row: QidoRow, baseUrl: string): string {
  return !row.sopInstanceUid || !row.json.includes('"cusp-bulkdata:') ? row.json : JSON.stringify(resultDataSet(row, baseUrl));
}

function resultDataSet(row: QidoRow, baseUrl: string): DicomJsonDataSet {
  const dataSet = JSON.parse(row.json) as DicomJsonDataSet;
  const { studyUid, seriesUid, sopInstanceUid } = row;
  // An instance-level row names its series too.
  return sopInstanceUid ? withBulkDataURIs(dataSet, baseUrl, { studyUid, seriesUid: seriesUid!, sopInstanceUid }) : dataSet;
}
