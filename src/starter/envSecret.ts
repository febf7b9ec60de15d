import { readFile } from 'node:fs/promises';
import { UserError } from './cliErrors.js';

/**
 * A secret from VAR, or from the file VAR_FILE names (a mounted Docker secret); never logged. Shared
 * by the webhook (its signing secret) and the worker (the token that reads the repository).
 */
export async function secretFromEnv(env: NodeJS.ProcessEnv, name: string): Promise<string | undefined> {
  if (env[name]) return env[name];
  const file = env[`${name}_FILE`];
  if (!file) return undefined;
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new UserError(`cannot read ${name}_FILE (${file}): ${(error as NodeJS.ErrnoException).code}`);
  }
}
