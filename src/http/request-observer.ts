// Request ids, one structured log line per request and the Prometheus request metrics.
// Logged: method, route pattern, status, duration, request id, client — never the URL's query
// or body, which can carry PHI.
import { randomUUID } from 'node:crypto';
import type { RequestHandler, Request } from 'express';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// Express restores req.baseUrl as routers unwind, so by the time the response finishes it no
// longer names the router that matched: mounted routers record it on entry.
const MOUNT = Symbol('mount');
type Mounted = Request & { [MOUNT]?: string };

export const rememberMount: RequestHandler = (req, _res, next) => {
  (req as Mounted)[MOUNT] = req.baseUrl;
  next();
};

function routePattern(req: Request): string {
  const mount = (req as Mounted)[MOUNT] ?? '';
  const route = req.route as { path?: string } | undefined;
  if (route?.path !== undefined) return `${mount}${route.path}`;
  return mount || 'unmatched';
}

export function requestObserver(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const offered = req.get('x-request-id');
    req.requestId = offered && SAFE_REQUEST_ID.test(offered) ? offered : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routePattern(req);
      metrics.observeRequest(req.method, route, res.statusCode, seconds);
      logger.info({
        reqId: req.requestId, method: req.method, route, status: res.statusCode,
        ms: Math.round(seconds * 1e4) / 10, client: req.caller?.clientId,
      }, 'request');
    });
    next();
  };
}
