import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The variables `talos-lab up` writes to <dir>/lab.env (KEY=value lines), for tests and the demo. */
export async function readLabEnv(dir: string): Promise<Record<string, string>> {
  const text = await readFile(join(dir, 'lab.env'), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}
