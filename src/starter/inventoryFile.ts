import { readFile } from 'node:fs/promises';
import {
  formatInventoryIssues,
  parseInventory,
  type Inventory,
  type InventoryIssue,
} from '../domain/index.js';

/** An inventory file that could not be read or is invalid; the message lists every problem found. */
export class InventoryFileError extends Error {
  override name = 'InventoryFileError';
  constructor(
    readonly file: string,
    readonly issues: readonly InventoryIssue[],
  ) {
    super(`${file} is not a valid inventory:\n${formatInventoryIssues(file, issues)}`);
  }
}

export async function loadInventoryFile(file: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new InventoryFileError(file, [{ path: '(file)', message: `cannot read the inventory: ${why}` }]);
  }
  const result = parseInventory(text);
  if (!result.ok) throw new InventoryFileError(file, result.issues);
  return result.inventory;
}
