import { readFile } from 'node:fs/promises';

/**
 * Reads a secret the inventory names by place: an environment variable of the worker, or a file
 * (a mounted Docker/Kubernetes secret). The value is returned to the caller only, never logged.
 */
export function secretReader(env: NodeJS.ProcessEnv = process.env) {
  return async (ref: { env: string } | { file: string }): Promise<string> => {
    if ('env' in ref) {
      const value = env[ref.env];
      if (!value) throw new Error(`environment variable ${ref.env} is not set`);
      return value;
    }
    return (await readFile(ref.file, 'utf8')).trim();
  };
}
