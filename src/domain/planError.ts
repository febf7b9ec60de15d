export type PlanErrorCode =
  | 'downgrade'
  | 'release-list-needed'
  | 'unknown-release'
  | 'kubernetes-unsupported'
  | 'kubernetes-range-unknown'
  | 'cattle-unavailable'
  | 'invalid-request';

/** A plan that cannot be made; the message says why and what the operator can do about it. */
export class PlanError extends Error {
  override name = 'PlanError';
  constructor(
    readonly code: PlanErrorCode,
    message: string,
  ) {
    super(message);
  }
}
