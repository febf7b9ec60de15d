import { ApplicationFailure } from '@temporalio/activity';

/**
 * Failure types the workflows branch on. A non-retryable failure is one that retrying cannot fix
 * (a missing image, a PDB that will not yield, a wrong NIC); the rest are retried by Temporal.
 */
export const FAILURE = {
  ValidationFailed: 'ValidationFailed',
  VersionMismatch: 'VersionMismatch',
  DrainBlocked: 'DrainBlocked',
  ImageMissing: 'ImageMissing',
  NicMismatch: 'NicMismatch',
  KernelArgsMissing: 'KernelArgsMissing',
  QuorumAtRisk: 'QuorumAtRisk',
  NodeNotReady: 'NodeNotReady',
  HealthCheckFailed: 'HealthCheckFailed',
  CommandFailed: 'CommandFailed',
  TalosUnavailable: 'TalosUnavailable',
  TerraformLocked: 'TerraformLocked',
  KubernetesUnavailable: 'KubernetesUnavailable',
  UnsupportedUpgrade: 'UnsupportedUpgrade',
} as const;

export type FailureType = keyof typeof FAILURE;

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
