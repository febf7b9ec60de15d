import { ApplicationFailure } from '@temporalio/activity';
import { FAILURE, type FailureType } from '../domain/failureTypes.js';

export { FAILURE, type FailureType };

export function nonRetryable(type: FailureType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    ...(details !== undefined ? { details: [details] } : {}),
  });
}

export function retryable(type: FailureType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: false,
    ...(details !== undefined ? { details: [details] } : {}),
  });
}

/** The last lines of a command's output: enough to diagnose, short enough for history. */
export function tail(text: string, lines = 10): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
