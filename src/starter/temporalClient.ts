import { Client, Connection } from '@temporalio/client';
import { EXIT, UserError } from './cliErrors.js';
import {
  connectionOptions,
  describeConnectionFailure,
  temporalSettings,
  type TemporalSettings,
} from './temporalConnection.js';

export interface TemporalClient {
  client: Client;
  settings: TemporalSettings;
  close(): Promise<void>;
}

/**
 * A client for the configured Temporal; an unreachable server is a clear message, not a trace.
 * `identity` is what the history records as the sender of its commands (Temporal's default: pid@host).
 */
export async function connectClient(
  env: NodeJS.ProcessEnv = process.env,
  identity?: string,
): Promise<TemporalClient> {
  const settings = await temporalSettings(env);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: '5s' });
  } catch (error) {
    throw new UserError(describeConnectionFailure(settings, error), EXIT.failure);
  }
  return {
    client: new Client({ connection, namespace: settings.namespace, ...(identity ? { identity } : {}) }),
    settings,
    close: () => connection.close(),
  };
}
