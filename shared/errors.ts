/**
 * What the services report when a request cannot be done, independent of HTTP: each has a stable
 * `code` and a message for the person who asked. shared/http/apiError.ts maps them to statuses.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Extra members of the error answer (for example the active run's id). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The thing does not exist, or the caller may not see it (the two are not told apart). */
export class NotFoundError extends DomainError {
  override readonly name = 'NotFoundError';
  constructor(what: string) {
    super('NotFound', `${what} was not found`);
  }
}

/** The request is wrong: the message names the field. */
export class InvalidRequestError extends DomainError {
  override readonly name = 'InvalidRequestError';
}

/** The caller may see the thing but not do this with it. */
export class ForbiddenError extends DomainError {
  override readonly name = 'ForbiddenError';
}

/** The request collides with the current state (an active run, a connection in use, a snapshot being written). */
export class ConflictError extends DomainError {
  override readonly name = 'ConflictError';
}

/** A service the request needs (ActiveCampaign) did not answer as it should. */
export class UpstreamError extends DomainError {
  override readonly name = 'UpstreamError';
}
