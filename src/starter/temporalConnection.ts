import { readFile } from 'node:fs/promises';

/**
 * How to reach Temporal, from the environment, with the Temporal CLI's variable names so one set of
 * variables serves the CLI, the worker and the webhook server:
 *   TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE (default "default"),
 *   TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE (Temporal Cloud; implies TLS),
 *   TEMPORAL_TLS=true, TEMPORAL_TLS_CLIENT_CERT_PATH + TEMPORAL_TLS_CLIENT_KEY_PATH (mTLS),
 *   TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME.
 * The task queue is ours: TALOS_UPGRADE_TASK_QUEUE (default "talos-upgrade").
 */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  apiKey?: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
}

export const DEFAULT_TASK_QUEUE = 'talos-upgrade';

export class TemporalSettingsError extends Error {}

async function readSetting(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new TemporalSettingsError(
      `cannot read ${what} at ${path}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
}

export async function temporalSettings(env: NodeJS.ProcessEnv = process.env): Promise<TemporalSettings> {
  const apiKey =
    env.TEMPORAL_API_KEY ||
    (env.TEMPORAL_API_KEY_FILE
      ? (await readSetting(env.TEMPORAL_API_KEY_FILE, 'TEMPORAL_API_KEY_FILE')).toString('utf8').trim()
      : undefined);
  const certPath = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const keyPath = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  if (!!certPath !== !!keyPath)
    throw new TemporalSettingsError(
      'set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH for mTLS, or neither',
    );
  const wantsTls =
    /^(1|true|yes)$/i.test(env.TEMPORAL_TLS ?? '') ||
    !!apiKey ||
    !!certPath ||
    !!env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const tls = wantsTls
    ? {
        ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
        ...(env.TEMPORAL_TLS_SERVER_CA_CERT_PATH
          ? {
              serverRootCACertificate: await readSetting(
                env.TEMPORAL_TLS_SERVER_CA_CERT_PATH,
                'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
              ),
            }
          : {}),
        ...(certPath && keyPath
          ? {
              clientCertPair: {
                crt: await readSetting(certPath, 'TEMPORAL_TLS_CLIENT_CERT_PATH'),
                key: await readSetting(keyPath, 'TEMPORAL_TLS_CLIENT_KEY_PATH'),
              },
            }
          : {}),
      }
    : undefined;
  return {
    address: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.TALOS_UPGRADE_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    ...(apiKey ? { apiKey } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** Options for Connection.connect and NativeConnection.connect (they take the same shape). */
export function connectionOptions(settings: TemporalSettings) {
  return {
    address: settings.address,
    ...(settings.tls ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  };
}

/** Where a connection failed, said so an operator can act on it (never the API key). */
export function describeConnectionFailure(settings: TemporalSettings, error: unknown): string {
  const why = error instanceof Error ? error.message : String(error);
  const auth = settings.apiKey ? 'an API key' : settings.tls?.clientCertPair ? 'mTLS' : 'no credentials';
  return (
    `cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}, ${settings.tls ? 'TLS' : 'plaintext'}, ${auth}): ${why}. ` +
    'Is the server up? Check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS/API key settings.'
  );
}
