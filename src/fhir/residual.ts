// The residual: what a written resource said that its columns do not (principle 2: nothing a
// client sent is lost). For each top-level element whose rendering from the rows differs from
// what the client wrote, the residual keeps the written value and the rendering it replaced
// (the "basis"). On read the written value is restored only while the rows still render to the
// basis: once another writer changes those columns, the table wins (principle 1).
import { isDeepStrictEqual } from 'node:util';

type Content = Record<string, unknown>;

export interface ResidualEntry {
  /** The element as written; null when the client did not send it. */
  value: unknown;
  /** The element as the rows rendered it at write time; null when they rendered nothing. */
  basis: unknown;
}

export type Residual = Record<string, ResidualEntry>;

// meta is kept whole (tags, profiles, security labels); versionId and lastUpdated are removed
// before and set after, by the store.
const SERVER_MANAGED = new Set(['resourceType', 'id']);

export function computeResidual(written: Content, rendered: Content): Residual | null {
  const residual: Residual = {};
  for (const key of new Set([...Object.keys(written), ...Object.keys(rendered)])) {
    if (SERVER_MANAGED.has(key)) continue;
    if (!isDeepStrictEqual(written[key], rendered[key])) {
      residual[key] = { value: written[key] ?? null, basis: rendered[key] ?? null };
    }
  }
  return Object.keys(residual).length > 0 ? residual : null;
}

export function applyResidual(rendered: Content, residual: Residual | null | undefined): Content {
  if (!residual) return rendered;
  const result: Content = { ...rendered };
  for (const [key, { value, basis }] of Object.entries(residual)) {
    if (!isDeepStrictEqual(rendered[key] ?? null, basis)) continue; // the rows changed since: they win
    if (value === null) delete result[key];
    else result[key] = value;
  }
  return result;
}
