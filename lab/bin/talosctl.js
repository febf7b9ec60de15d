// Thin client: finds the lab that owns the talosconfig and lets its daemon run the command.
// Plain JavaScript so that each call starts in milliseconds; the logic lives in lab/talosctl/.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const argv = process.argv.slice(2);
const flagAt = argv.findIndex((arg) => arg === '--talosconfig' || arg.startsWith('--talosconfig='));
const fromFlag =
  flagAt < 0 ? undefined : argv[flagAt].includes('=') ? argv[flagAt].split('=')[1] : argv[flagAt + 1];
const talosconfig = resolve(fromFlag ?? process.env.TALOSCONFIG ?? join(homedir(), '.talos', 'config'));

let apiUrl;
try {
  apiUrl = JSON.parse(readFileSync(join(dirname(talosconfig), 'daemon.json'), 'utf8')).apiUrl;
} catch {
  process.stderr.write(
    `error: ${talosconfig} does not belong to a running talos lab (start one with: talos-lab up)\n`,
  );
  process.exit(1);
}

try {
  const response = await fetch(`${apiUrl}/talosctl`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ argv, cwd: process.cwd(), env: { TALOSCONFIG: talosconfig } }),
  });
  const result = await response.json();
  if (!response.ok) throw new Error(result.error ?? `HTTP ${response.status}`);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.exitCode;
} catch (error) {
  process.stderr.write(`error: the talos lab at ${apiUrl} did not answer: ${error.message}\n`);
  process.exitCode = 1;
}
