import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { STRATEGIES, type Strategy } from '../domain/index.js';
import { EXIT, UserError } from './cliErrors.js';
import { InventoryFileError } from './inventoryFile.js';
import { planCommand } from './commands/plan.js';
import { validateCommand } from './commands/validate.js';

function strategyArg(value: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(value))
    throw new InvalidArgumentError('expected pets or cattle');
  return value as Strategy;
}

export function buildCli(): Command {
  const program = new Command('talos-upgrade')
    .description('Durable, node-by-node upgrades of Talos Linux clusters on Proxmox, run by Temporal.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

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
