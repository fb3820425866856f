// Paging cursors: opaque to clients, bound to the client that received them, so a link handed
// to one client is useless to another (and every query is tenant-scoped besides).
import { badRequest } from '../http/errors.ts';

export function encodeCursor(clientRowId: string, position: unknown): string {
  return Buffer.from(JSON.stringify({ c: clientRowId, p: position })).toString('base64url');
}

export function decodeCursor<T>(clientRowId: string, cursor: string): T {
  let decoded: { c?: unknown; p?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('_cursor is not a cursor this server issued', '_cursor');
  }
  if (decoded.c !== clientRowId) throw badRequest('_cursor was issued to another client', '_cursor');
  return decoded.p as T;
}
