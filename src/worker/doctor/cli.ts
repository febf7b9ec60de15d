import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { Command } from 'commander';
import {
  connectionOptions,
  describeConnectionFailure,
  type TemporalSettings,
} from '../../starter/temporalConnection.js';
import { activityDeps, loadWorkerConfig, type WorkerOptions } from '../config.js';
import { exitOnEntryError } from '../entryErrors.js';
import { sweepPlainMachineConfigs } from '../../activities/machineConfigFile.js';
import { secretReader } from '../secrets.js';
import { clusterChecks, type CheckResult } from './clusterChecks.js';

/** Temporal answers, and a worker polls the task queue the runs go to. */
async function temporalCheck(settings: TemporalSettings): Promise<CheckResult> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: '5s' });
  } catch (error) {
    return {
      check: 'temporal',
      ok: false,
      detail: describeConnectionFailure(settings, error),
      fix: 'start Temporal (README, step 3) or set TEMPORAL_ADDRESS',
    };
  }
  try {
    const client = new Client({ connection, namespace: settings.namespace });
    const queue = await connection.withDeadline(Date.now() + 10_000, () =>
      client.workflowService.describeTaskQueue({
        namespace: settings.namespace,
        taskQueue: { name: settings.taskQueue },
        taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
    const pollers = queue.pollers?.length ?? 0;
    return {
      check: 'temporal',
      ok: pollers > 0,
      detail: `${settings.address}, namespace ${settings.namespace}: ${pollers ? `${pollers} worker(s) polling ${settings.taskQueue}` : `no worker polls ${settings.taskQueue}`}`,
      ...(pollers
        ? {}
        : { fix: 'start the worker: talos-upgrade worker --inventory <file> (README, step 4)' }),
    };
  } catch (error) {
    return { check: 'temporal', ok: false, detail: `${settings.address}: ${(error as Error).message}` };
  } finally {
    await connection.close();
  }
}

function print(result: CheckResult): void {
  const where = result.cluster ? `${result.cluster} · ` : '';
  console.log(
    `${result.warning ? '⚠️ ' : result.ok ? '✅' : '❌'} ${where}${result.check}: ${result.detail}`,
  );
  if ((!result.ok || result.warning) && result.fix) console.log(`   fix: ${result.fix}`);
}

/**
 * `talos-upgrade doctor`: with the worker's own configuration (inventories, credentials, binaries),
 * every check a run depends on, read-only, one line each; exit 0 only when all pass.
 */
export async function doctorMain(argv: string[]): Promise<void> {
  const program = new Command('talos-upgrade doctor')
    .description(
      "read-only checks of everything a run needs, with the worker's configuration (its environment and flags): " +
        'Temporal and a worker, Kubernetes and its permissions, every node through Talos, etcd, the Terraform state ' +
        'and plan, the versions file, machine configs, installers, backups. Exit 0 only when all pass.',
    )
    .requiredOption('--inventory <file...>', 'cluster inventory YAML files, as the worker gets them')
    .option('--credentials-dir <dir>', 'holds <cluster>/kubeconfig and <cluster>/talosconfig')
    .option('--json', 'print the results as JSON')
    .option(
      '--notify-test',
      "also send a test notification to each of the inventory's notification targets (the only check that sends anything)",
    )
    .showHelpAfterError()
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
    const options = program.opts<WorkerOptions & { json?: boolean; notifyTest?: boolean }>();
    const config = await loadWorkerConfig({ ...options, metrics: 'off' });
    const deps = activityDeps(config, secretReader());
    // A doctor stopped while it validated an encrypted machine config left its plain copy behind.
    await sweepPlainMachineConfigs();
    const results: CheckResult[] = [];
    const report = (result: CheckResult) => {
      results.push(result);
      if (!options.json) print(result);
    };
    report(await temporalCheck(config.temporal));
    for (const [name, access] of Object.entries(config.clusters))
      await clusterChecks(name, access, deps, report, { notifyTest: options.notifyTest === true });
    const failed = results.filter((r) => !r.ok).length;
    if (options.json) console.log(JSON.stringify(results, null, 2));
    else
      console.log(
        failed ? `\n${failed} of ${results.length} checks failed.` : `\nAll ${results.length} checks passed.`,
      );
    process.exitCode = failed ? 1 : 0;
  } catch (error) {
    exitOnEntryError(error);
  }
}
