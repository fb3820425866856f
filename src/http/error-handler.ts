// The one place where errors become HTTP answers: OperationOutcome JSON
// (https://hl7.org/fhir/R4/operationoutcome.html) for everything but the token endpoint.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../observability/logger.ts';
import { HttpError, notFound, type IssueCode } from './errors.ts';

export function operationOutcome(severity: 'fatal' | 'error' | 'warning' | 'information', code: IssueCode, diagnostics: string, expression?: string[]) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, diagnostics, ...(expression ? { expression } : {}) }],
  };
}

const contentTypeFor = (path: string) => (path.startsWith('/fhir') ? 'application/fhir+json' : 'application/json');

export const unknownRoute: RequestHandler = (req) => {
  throw notFound(`no route for ${req.method} ${req.path}`);
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    let httpError: HttpError;
    if (error instanceof HttpError) {
      httpError = error;
    } else if (error?.type === 'entity.parse.failed') {
      httpError = new HttpError(400, 'structure', 'the request body is not valid JSON');
    } else if (error?.type === 'entity.too.large') {
      httpError = new HttpError(413, 'too-costly', 'the request body is too large');
    } else if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500) {
      httpError = new HttpError(error.status, 'invalid', String(error.message ?? 'bad request'));
    } else {
      logger.error({ err: error, reqId: req.requestId }, 'unhandled error');
      httpError = new HttpError(500, 'exception', `internal error (request id ${req.requestId})`);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const outcome = httpError.issues.length > 0
      ? { resourceType: 'OperationOutcome', issue: httpError.issues }
      : operationOutcome(httpError.status >= 500 ? 'fatal' : 'error', httpError.code, httpError.message, httpError.expression);
    res.status(httpError.status).set(httpError.headers).type(contentTypeFor(req.path)).send(JSON.stringify(outcome));
  };
}
