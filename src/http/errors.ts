// Errors carry their own HTTP answer; one handler (src/http/error-handler.ts) renders them.
// FHIR-facing errors become OperationOutcome; OAuth errors follow RFC 6749 section 5.2.

/** OperationOutcome.issue.code values used here (https://hl7.org/fhir/R4/valueset-issue-type.html). */
export type IssueCode =
  | 'invalid' | 'structure' | 'required' | 'value' | 'security' | 'login' | 'forbidden'
  | 'not-found' | 'deleted' | 'not-supported' | 'conflict' | 'duplicate' | 'throttled'
  | 'exception' | 'processing' | 'too-costly' | 'incomplete';

export interface Issue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: IssueCode;
  diagnostics: string;
  expression?: string[];
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: IssueCode,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly expression?: string[],
    /** Further issues, when one error has several causes (e.g. every schema violation of a resource). */
    readonly issues: Issue[] = [],
  ) {
    super(message);
  }
}

export const badRequest = (message: string, expression?: string) =>
  new HttpError(400, 'invalid', message, {}, expression ? [expression] : undefined);
export const unauthorized = (message: string, error: 'invalid_request' | 'invalid_token' = 'invalid_token') =>
  new HttpError(401, 'login', message, {
    'WWW-Authenticate': `Bearer realm="cusp", error="${error}", error_description="${message.replace(/["\\]/g, '')}"`,
  });
export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);
export const notFound = (message: string) => new HttpError(404, 'not-found', message);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);
export const gone = (message: string) => new HttpError(410, 'deleted', message);
export const preconditionFailed = (message: string) => new HttpError(412, 'conflict', message);
export const unprocessable = (message: string, expression?: string) =>
  new HttpError(422, 'processing', message, {}, expression ? [expression] : undefined);
export const notAcceptable = (message: string) => new HttpError(406, 'not-supported', message);
export const unsupportedMediaType = (message: string) => new HttpError(415, 'not-supported', message);
export const tooManyRequests = (retryAfterSeconds: number) =>
  new HttpError(429, 'throttled', `rate limit exceeded; retry after ${retryAfterSeconds} s`, {
    'Retry-After': String(retryAfterSeconds),
  });

/** The client a token request named, as far as it is known, for the audit trail. */
export interface OAuthSubject {
  clientId?: string;
  client?: { id: string; tenant_id: string; client_id: string };
}

/** OAuth 2.0 token endpoint error (RFC 6749 §5.2). */
export class OAuthError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 429,
    readonly error: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client'
      | 'unsupported_grant_type' | 'invalid_scope' | 'access_denied' | 'slow_down',
    message: string,
    readonly headers: Record<string, string> = {},
    readonly subject: OAuthSubject = {},
  ) {
    super(message);
  }
}
