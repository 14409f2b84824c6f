/** A request that cannot run as asked; the message says why in one line (CLI exit 1, server 422). */
export class InvalidRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidRequestError";
  }
}
