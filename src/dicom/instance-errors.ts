// Why an instance was refused, as a typed error carrying the Failure Reason (0008,1197) that a
// STOW-RS response reports for it (PS3.18 Table I.2-2).

/** Failure Reason values of PS3.18 Table I.2-2 (the PS3.4 C-STORE status codes). */
export const FailureReason = {
  /** A general failure in processing, not caused by the instance (e.g. the spooled file could not be read). */
  ProcessingFailure: 0x0110,
  /** The SOP Instance UID is already stored with other bytes. Decided by the server, never by the parser. */
  DuplicateSOPInstance: 0x0111,
  /** The server does not store this SOP Class. Decided by the server, never by the parser. */
  SOPClassNotSupported: 0x0122,
  /** Refused: out of resources (here: a value too large to hold in memory and not allowed as bulk data). */
  OutOfResources: 0xa700,
  /** The data set does not conform to its SOP Class (here: a Type 1 UID of the SOP Common, Patient/Study/Series modules is missing). */
  DataSetDoesNotMatchSOPClass: 0xa900,
  /** Cannot understand: not a PS3.10 file, truncated, or its encoding is broken. */
  CannotUnderstand: 0xc000,
  /** The Transfer Syntax is neither a standard one nor known to the parser. */
  TransferSyntaxNotSupported: 0xc122,
} as const;

export type FailureReasonCode = (typeof FailureReason)[keyof typeof FailureReason];

export type InstanceProblem =
  | 'not-dicom'
  | 'truncated'
  | 'malformed'
  | 'missing-attribute'
  | 'unsupported-transfer-syntax'
  | 'too-large';

const FAILURE_REASON_OF_PROBLEM: Record<InstanceProblem, FailureReasonCode> = {
  'not-dicom': FailureReason.CannotUnderstand,
  truncated: FailureReason.CannotUnderstand,
  malformed: FailureReason.CannotUnderstand,
  'missing-attribute': FailureReason.DataSetDoesNotMatchSOPClass,
  'unsupported-transfer-syntax': FailureReason.TransferSyntaxNotSupported,
  'too-large': FailureReason.OutOfResources,
};

/** The instance cannot be indexed; `failureReason` is what STOW-RS reports for it. */
export class InstanceParseError extends Error {
  override readonly name = 'InstanceParseError';
  readonly failureReason: FailureReasonCode;

  constructor(
    readonly problem: InstanceProblem,
    message: string,
    /** The attribute at fault, as a DICOM JSON tag path (e.g. '00080018'), when there is one. */
    readonly attribute?: string,
  ) {
    super(message);
    this.failureReason = FAILURE_REASON_OF_PROBLEM[problem];
  }
}

/** The Failure Reason for any error thrown while parsing: anything not about the instance is a processing failure. */
export function failureReasonOf(error: unknown): FailureReasonCode {
  return error instanceof InstanceParseError ? error.failureReason : FailureReason.ProcessingFailure;
}
