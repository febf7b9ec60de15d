import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { STRATEGIES, type Strategy } from '../domain/index.js';
import { EXIT, UserError } from './cliErrors.js';
import { InventoryFileError } from './inventoryFile.js';
import { initCommand } from './commands/init.js';
import { planCommand } from './commands/plan.js';
import { validateCommand } from './commands/validate.js';
import { webhookCommand } from './commands/webhook.js';
import { historyCommand } from './commands/history.js';
import { listCommand } from './commands/list.js';
import { operateCommand, undoCommand } from './commands/operate.js';
import { startCommand } from './commands/start.js';
import { statusCommand } from './commands/status.js';

function strategyArg(value: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(value))
    throw new InvalidArgumentError('expected pets or cattle');
  return value as Strategy;
}

export function buildCli(): Command {
  const program = new Command('talos-upgrade')
    .description('Durable, node-by-node upgrades of Talos Linux clusters on Proxmox, run by Temporal.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      '\nThe worker: talos-upgrade worker --inventory <file...> (see talos-upgrade worker --help).\n' +
        "Its checks: talos-upgrade doctor --inventory <file...>, with the worker's environment.",
    );

  program
    .command('init')
    .description(
      "write a cluster's inventory from what it runs: its Nodes, each node's Talos API, the Terraform state and files",
    )
    .option('--talosconfig <file>', 'the talosconfig (default: TALOSCONFIG, else ~/.talos/config)')
    .option('--kubeconfig <file>', 'the kubeconfig (default: KUBECONFIG, else ~/.kube/config)')
    .option('--terraform <dir>', 'the Terraform root that manages the VMs (run where terraform plan works)')
    .option('--name <cluster>', "the cluster's name (default: the talosconfig's context)")
    .option('--out <file>', 'where to write the inventory', 'inventory.yaml')
    .option(
      '--controlplane-config <file>',
      "the control planes' machine config (talosctl gen config wrote it)",
    )
    .option('--worker-config <file>', "the workers' machine config")
    .option(
      '--backups <dir>',
      'where etcd snapshots and Terraform states are kept (default /var/lib/talos-upgrade/backups/<cluster>)',
    )
    .option(
      '--github <owner/name>',
      "the repository on GitHub, when origin is not a GitHub URL (default: origin's, if on GitHub)",
    )
    .option('--force', 'replace the --out file if it exists')
    .action(async (options: Parameters<typeof initCommand>[0]) => {
      process.exitCode = await initCommand(options);
    });

  program
    .command('validate')
    .description('check inventory files; exit 0 when all are valid, 2 with every problem otherwise')
    .argument('<inventory...>', 'inventory YAML files')
    .action(async (files: string[]) => {
      process.exitCode = await validateCommand(files);
    });

  program
    .command('plan')
    .description('show the hops, strategy and approvals of an upgrade without running it')
    .requiredOption('--inventory <file>', 'the cluster inventory YAML')
    .requiredOption('--from <version>', 'running Talos version (1.11.3 or v1.11.3)')
    .requiredOption('--to <version>', 'target Talos version')
    .option('--k8s-from <version>', 'running Kubernetes version')
    .option('--k8s-to <version>', 'target Kubernetes version')
    .option(
      '--releases <file>',
      'released Talos versions, one per line (default: versions.releases of the inventory)',
    )
    .option('--k8s-releases <file>', 'released Kubernetes versions, one per line')
    .addOption(
      new Option('--strategy <strategy>', 'force pets or cattle for every hop').argParser(strategyArg),
    )
    .option('--json', 'print the plan as JSON')
    .action(async (options: Parameters<typeof planCommand>[0]) => {
      process.exitCode = await planCommand(options);
    });

  program
    .command('start')
    .description('enqueue an upgrade by hand (the same queue a merged pull request feeds)')
    .requiredOption('--cluster <cluster>', 'the cluster, as named in its inventory')
    .option('--to <version>', 'target Talos version (required unless --merge)')
    .option('--k8s-to <version>', 'target Kubernetes version')
    .addOption(new Option('--strategy <strategy>', 'pets or cattle for every hop').argParser(strategyArg))
    .option('--by <name>', 'who asks (default: your user name)')
    .option(
      '--inventory <file...>',
      'the inventories the worker runs with: the cluster must be named in one (default: TALOS_UPGRADE_INVENTORY, comma-separated)',
    )
    .option(
      '--dry-run',
      'plan and run the whole pre-flight against the live cluster, wait for it and print the result; nothing is touched',
    )
    .option(
      '--merge <commit>',
      "with --dry-run: what this commit (a merge, or a pull request's head) would do, read from the cluster's repository",
    )
    .option(
      '--nodes <names>',
      'only these nodes (Kubernetes Node names, comma-separated): a trial by hand; the others keep what they run',
    )
    .action(async (options: Parameters<typeof startCommand>[0]) => {
      process.exitCode = await startCommand(options);
    });

  for (const [action, what] of [
    ['approve', 'approve a run waiting for approval'],
    ['reject', 'reject a run waiting for approval; nothing is touched'],
    ['pause', 'hold a run before its next node'],
    ['resume', 'let a paused run go on'],
    ['override-window', 'let a run start its nodes outside the maintenance windows (this run only)'],
    ['cancel', 'cancel a run: the node in flight is finished or rolled back, the rest skipped'],
  ] as const) {
    program
      .command(action)
      .description(what)
      .argument('<run>', 'a cluster (its running upgrade) or a workflow id')
      .option('--by <name>', 'who decides (default: your user name)')
      .option(
        '--identity <id>',
        "the identity to answer as: sent with the answer (checked against policy.approval.approvers) and as the Temporal client's, which the history records (default: <user>@<host>)",
      )
      .option(
        '--comment <text>',
        action === 'reject' || action === 'override-window' ? 'the reason' : 'a comment for the record',
      )
      .action(async (run: string, options: { by?: string; identity?: string; comment?: string }) => {
        process.exitCode = await operateCommand(action, run, options);
      });
  }

  program
    .command('undo')
    .description('answer a node whose undo is stuck (phase CompensationStuck): run it again, or abandon it')
    .addArgument(new Argument('<action>', 'retry | abandon').choices(['retry', 'abandon']))
    .argument('<run>', 'a cluster, a cluster run or a node run (workflow id)')
    .option('--by <name>', 'who decides (default: your user name)')
    .option('--comment <text>', 'the reason (required to abandon)')
    .action(async (action: 'retry' | 'abandon', run: string, options: { by?: string; comment?: string }) => {
      process.exitCode = await undoCommand(action, run, options);
    });

  program
    .command('status')
    .description('where a run is (or every running upgrade); --watch for live per-node progress bars')
    .argument('[run]', 'a cluster (its running upgrade) or a workflow id')
    .option('--watch', 'follow the run until it ends')
    .action(async (run: string | undefined, options: { watch?: boolean }) => {
      process.exitCode = await statusCommand(run, options);
    });

  program
    .command('list')
    .description('recent upgrade runs, newest first, with their outcome')
    .option('--cluster <cluster>', 'only this cluster')
    .option('--limit <n>', 'how many (default 20)')
    .action(async (options: { cluster?: string; limit?: string }) => {
      process.exitCode = await listCommand(options);
    });

  program
    .command('history')
    .description("a run's timeline in words")
    .argument('<workflowId>', 'the workflow id (see list)')
    .action(async (workflowId: string) => {
      process.exitCode = await historyCommand(workflowId);
    });

  program
    .command('webhook')
    .description(
      'serve GitHub deliveries: a merged version bump enqueues an upgrade (see docs/operations.md for the environment)',
    )
    .requiredOption('--inventory <file...>', 'cluster inventory YAML files')
    .option('--host <host>', 'address to listen on (default 127.0.0.1, or TALOS_UPGRADE_WEBHOOK_HOST)')
    .option(
      '--port <port>',
      'port to listen on; 0 picks a free one, logged as "webhook listening" (default 8080, or TALOS_UPGRADE_WEBHOOK_PORT)',
    )
    .option(
      '--metrics <host:port>',
      'serve Prometheus metrics (deliveries by result) at http://<host:port>/metrics, apart from the webhook\'s port; "off" (the default, or TALOS_UPGRADE_WEBHOOK_METRICS) serves none',
    )
    .action(async (options: Parameters<typeof webhookCommand>[0]) => {
      await webhookCommand(options);
    });

  return program;
}

/** Runs the CLI; user errors print one clear message (no stack trace) and exit 2. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successful exits; usage mistakes are invalid input.
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.invalidInput;
    } else if (error instanceof UserError) {
      console.error(`error: ${error.message}`);
      process.exitCode = error.exitCode;
    } else if (error instanceof InventoryFileError) {
      console.error(`error: ${error.message}`);
      process.exitCode = EXIT.invalidInput;
    } else {
      console.error('talos-upgrade failed unexpectedly:', error);
      process.exitCode = EXIT.failure;
    }
  }
}

await main(process.argv);
