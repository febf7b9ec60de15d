import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  isCancellation,
} from '@temporalio/workflow';

/** The innermost message of an activity or child failure: what an operator needs to read. */
export function describeFailure(error: unknown): string {
  let current: unknown = error;
  while (current instanceof ActivityFailure || current instanceof ChildWorkflowFailure)
    current = current.cause;
  if (current instanceof Error) return current.message;
  return String(current);
}

export function failureType(error: unknown): string | undefined {
  let current: unknown = error;
  while (current instanceof ActivityFailure || current instanceof ChildWorkflowFailure)
    current = current.cause;
  return current instanceof ApplicationFailure ? (current.type ?? undefined) : undefined;
}

export function wasCancelled(error: unknown): boolean {
  return isCancellation(error) || error instanceof CancelledFailure;
}
