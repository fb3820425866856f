// FHIR RESTful conventions shared by every interaction (https://hl7.org/fhir/R4/http.html):
// format negotiation, version headers, Prefer, and writing the answer.
import type { Request, Response } from 'express';
import { badRequest, notAcceptable, unsupportedMediaType } from '../http/errors.ts';
import type { StoredVersion } from './resource-store.ts';

export const FHIR_JSON = 'application/fhir+json';
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);
const XML_FORMATS = /xml|turtle|ttl/;

export interface FhirResult {
  status: number;
  body?: fhir4.FhirResource | fhir4.OperationOutcome | object;
  headers?: Record<string, string>;
}

/** JSON is the one format served: `_format` or Accept asking only for another is 406. */
export function negotiateFormat(req: Request): void {
  const format = typeof req.query._format === 'string' ? req.query._format.split(';')[0]!.trim() : undefined;
  if (format !== undefined) {
    if (!JSON_FORMATS.has(format)) throw notAcceptable(`_format ${format} is not served; use json`);
    return;
  }
  const accept = req.get('accept');
  if (!accept || req.accepts([FHIR_JSON, 'application/json', 'json'])) return;
  if (XML_FORMATS.test(accept) || accept.trim() !== '') throw notAcceptable(`none of "${accept}" is served; use ${FHIR_JSON}`);
}

/** A resource body must be FHIR JSON (or plain JSON) and parse to an object. */
export function resourceBody(req: Request): Record<string, unknown> {
  const type = req.get('content-type');
  if (!type || !req.is([FHIR_JSON, 'application/json', 'application/json+fhir'])) {
    throw unsupportedMediaType(`the body must be ${FHIR_JSON}${type ? `, not ${type}` : ''}`);
  }
  const body: unknown = req.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object (a FHIR resource)');
  return body as Record<string, unknown>;
}

export const etag = (versionId: string) => `W/"${versionId}"`;

/** The version named by an If-Match header (W/"3" or "3"), if any. */
export function ifMatchVersion(req: Request): string | undefined {
  const header = req.get('if-match');
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"([^"]+)"\s*$/.exec(header);
  if (!match) throw badRequest(`If-Match must be an ETag such as W/"3", not ${header}`);
  return match[1];
}

export function versionHeaders(version: StoredVersion, baseUrl: string): Record<string, string> {
  return {
    ETag: etag(version.versionId),
    'Last-Modified': new Date(version.lastUpdated).toUTCString(),
    Location: `${baseUrl}/${version.resourceType}/${version.id}/_history/${version.versionId}`,
  };
}

type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export function returnPreference(req: Request): ReturnPreference {
  const match = /(?:^|[,;\s])return=(minimal|representation|OperationOutcome)/.exec(req.get('prefer') ?? '');
  return (match?.[1] as ReturnPreference | undefined) ?? 'representation';
}

/** The answer to a create or update, shaped by Prefer: return=… */
export function writeResult(req: Request, status: number, version: StoredVersion, baseUrl: string, message: string): FhirResult {
  const headers = versionHeaders(version, baseUrl);
  switch (returnPreference(req)) {
    case 'minimal':
      return { status, headers };
    case 'OperationOutcome':
      return { status, headers, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: message }] } };
    default:
      return { status, headers, body: version.resource };
  }
}

export function sendResult(req: Request, res: Response, result: FhirResult): void {
  res.status(result.status).set(result.headers ?? {});
  if (result.body === undefined) {
    res.end();
    return;
  }
  const pretty = req.query._pretty === 'true';
  res.type(FHIR_JSON).send(pretty ? JSON.stringify(result.body, null, 2) : JSON.stringify(result.body));
}
