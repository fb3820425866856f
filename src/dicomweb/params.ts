// Path parameters of the DICOMweb resources (PS3.18 10.4.1, 10.6.1): UIDs checked before any query.
import type { Request } from 'express';
import { badRequest } from '../http/errors.ts';

/** PS3.5 9.1: components of digits without leading zeros, separated by dots, at most 64 characters. */
const UID = /^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/;

export const isUid = (value: string) => value.length <= 64 && UID.test(value);

/** The UID in path parameter `name`, or 400. */
export function uidParam(req: Request, name: 'study' | 'series' | 'instance'): string {
  const value = String(req.params[name] ?? '');
  if (!isUid(value)) throw badRequest(`"${value}" is not a valid ${name} instance UID`);
  return value;
}

/** The study, series and instance UIDs a resource path names (the ones it has). */
export interface ResourcePath {
  study: string;
  series?: string;
  instance?: string;
}

export function resourcePath(req: Request): ResourcePath {
  return {
    study: uidParam(req, 'study'),
    ...(req.params.series !== undefined ? { series: uidParam(req, 'series') } : {}),
    ...(req.params.instance !== undefined ? { instance: uidParam(req, 'instance') } : {}),
  };
}
