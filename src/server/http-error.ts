/**
 * Errors with an HTTP status, and the body A1111 answers errors with (modules/api/api.py
 * handle_exception): `{error: <exception type>, detail, body, errors}` — clients show `detail`.
 */

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** A1111's `error` field: the exception's type name. */
    readonly kind = "HTTPException",
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface A1111ErrorBody {
  error: string;
  detail: string;
  body: string;
  errors: string;
}

export function a1111ErrorBody(kind: string, detail: string, errors = detail): A1111ErrorBody {
  return { error: kind, detail, body: "", errors };
}

/** A 4xx for a request that is well-formed JSON but asks for something invalid. */
export function invalidRequest(message: string): HttpError {
  return new HttpError(422, message, "ValidationError");
}
