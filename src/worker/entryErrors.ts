import { CommanderError } from 'commander';
import { UserError } from '../starter/cliErrors.js';
import { InventoryFileError } from '../starter/inventoryFile.js';
import { TemporalSettingsError } from '../starter/temporalConnection.js';
import { WorkerConfigError } from './config.js';

/**
 * How the worker's entries (`worker`, `doctor`) end on an error: usage and configuration mistakes exit 2
 * with their message, anything else 1; help and version exit 0.
 */
export function exitOnEntryError(error: unknown): void {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
    return;
  }
  const userError =
    error instanceof WorkerConfigError ||
    error instanceof UserError ||
    error instanceof InventoryFileError ||
    error instanceof TemporalSettingsError;
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = userError ? 2 : 1;
}
