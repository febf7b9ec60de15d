import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs a command whose stdout reader is gone before it writes (as `| head` after its lines). */
function withReaderGone(script: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

it.each([
  ['talos-upgrade', 'bin/talos-upgrade.js'],
  ['talos-lab', 'lab/bin/talos-lab.js'],
])('%s --help ends quietly when its reader has closed the pipe', async (_name, script) => {
  const { code, stderr } = await withReaderGone(script, ['--help']);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
});
