// CORS (Fetch standard) for browser viewers on other origins. Callers authenticate with a Bearer
// token, never cookies, so any origin may call and no credentials mode is needed. The headers are
// set before anything else runs, so they are on error answers too; a preflight is answered here,
// before authentication (browsers send no Authorization header with it).
import type { RequestHandler } from 'express';

const ALLOWED_METHODS = 'GET, HEAD, POST, DELETE, OPTIONS';
const EXPOSED_HEADERS = 'Content-Type, Content-Length, Content-Location, Location, Warning, WWW-Authenticate, X-Request-Id';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

export const cors: RequestHandler = (req, res, next) => {
  res.set('Access-Control-Allow-Origin', '*');
  res.set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
  if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
    res.set('Access-Control-Allow-Methods', ALLOWED_METHODS);
    res.set('Access-Control-Allow-Headers', req.get('access-control-request-headers') ?? 'Authorization, Content-Type, Accept');
    res.set('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_SECONDS);
    res.vary('Access-Control-Request-Headers');
    res.status(204).end();
    return;
  }
  next();
};
