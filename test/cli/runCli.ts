import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const CLI = fileURLToPath(new URL('../../bin/talos-upgrade.js', import.meta.url));

/** Runs the real talos-upgrade command as a user would, and never throws on a non-zero exit. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
) {
  const result = await execa('node', [CLI, ...args], {
    reject: false,
    env: options.env,
    timeout: options.timeoutMs ?? 60_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}
