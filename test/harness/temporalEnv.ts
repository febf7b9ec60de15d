import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { execa } from 'execa';
import { ensureTools } from '../../lab/tools.js';

export const TEMPORAL_ADDRESS_ENV = 'TALOS_UPGRADE_TEST_TEMPORAL_ADDRESS';
export const TEMPORAL_WEB_UI_ENV = 'TALOS_UPGRADE_TEST_WEB_UI';

export function testTemporalAddress(): string {
  const address = process.env[TEMPORAL_ADDRESS_ENV];
  if (!address)
    throw new Error(
      `${TEMPORAL_ADDRESS_ENV} is not set: run the tests through jest, whose globalSetup starts the dev server`,
    );
  return address;
}

let runtimeInstalled = false;

/** Connections to the run's dev server for a worker and a client; close them in afterAll. */
export async function connectToTestServer() {
  if (!runtimeInstalled) {
    // The SDK's per-task lines would drown the test output. Failed activity attempts are what many
    // tests provoke on purpose, so they are left out too; anything else at WARN and above shows.
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => {
        if (/^(Activity (task )?failed|Workflow failed)/.test(entry.message)) return;
        // One line each (jest's console would add a stack trace to every expected warning).
        const meta = entry.meta ? ` ${JSON.stringify(entry.meta)}` : '';
        process.stderr.write(`[temporal ${entry.level}] ${entry.message}${meta}\n`);
      }),
    });
    runtimeInstalled = true;
  }
  const address = testTemporalAddress();
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  return {
    nativeConnection,
    client,
    close: async () => {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

export function uniqueTaskQueue(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}`;
}

/** A workflow's history as `temporal workflow show -o json` prints it, from the test run's dev server. */
export async function showWorkflowJson(workflowId: string): Promise<string> {
  const { temporal } = await ensureTools('temporal');
  const shown = await execa(temporal, [
    'workflow',
    'show',
    '--address',
    testTemporalAddress(),
    '--workflow-id',
    workflowId,
    '--output',
    'json',
  ]);
  return shown.stdout;
}

/** The real temporal CLI against the test run's dev server (`temporal <args> --address …`). */
export async function temporalCli(
  ...args: string[]
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const { temporal } = await ensureTools('temporal');
  const result = await execa(temporal, [...args, '--address', testTemporalAddress()], { reject: false });
  return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}
