import { Command } from 'commander';
import { loadWorkerConfig, type WorkerOptions } from './config.js';
import { exitOnEntryError } from './entryErrors.js';
import { runWorker } from './main.js';

/** `talos-upgrade worker`: its own entry so the operator CLI never loads the worker runtime. */
export async function workerMain(argv: string[]): Promise<void> {
  const program = new Command('talos-upgrade worker')
    .description(
      'run the Temporal worker: the upgrade workflows and the activities for the given clusters.\n' +
        'Temporal: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY(_FILE), TEMPORAL_TLS_* ' +
        '(see docs/operations.md); binaries: TALOSCTL, TERRAFORM, SOPS; where merges are read: TALOS_UPGRADE_SOURCE ' +
        '(github with GITHUB_TOKEN(_FILE), or git with TALOS_UPGRADE_GIT_URL).',
    )
    .requiredOption('--inventory <file...>', 'cluster inventory YAML files (one per cluster)')
    .option(
      '--credentials-dir <dir>',
      'holds <cluster>/kubeconfig and <cluster>/talosconfig (default: TALOS_UPGRADE_CREDENTIALS_DIR)',
    )
    .option('--metrics <host:port>', 'Prometheus endpoint, or "off" (default 127.0.0.1:9464)')
    .showHelpAfterError()
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
    await runWorker(await loadWorkerConfig(program.opts<WorkerOptions>()));
  } catch (error) {
    exitOnEntryError(error);
  }
}
