/**
 * Every failure the core can report is a TrackerscopeError with a stable `code`.
 * The web layer (src/web/errors.ts) is the one place that turns a code into an HTTP status and a
 * human message; the core never knows about HTTP.
 */
export class TrackerscopeError extends Error {
  /** Stable machine-readable code, e.g. `BENCODE_UNEXPECTED_END`. */
  readonly code: string;
  /** Byte offset in the input where the problem was found, when it has one. */
  readonly offset: number | undefined;

  constructor(code: string, message: string, offset?: number, options?: { cause?: unknown }) {
    super(offset === undefined ? message : `${message} at byte ${offset}`, options);
    this.name = new.target.name;
    this.code = code;
    this.offset = offset;
  }
}

/** A non-fatal finding: the input was accepted but something about it is worth showing. */
export interface Warning {
  code: string;
  message: string;
  offset?: number;
}
