import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from '@jest/globals';
import { execa } from 'execa';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The processes whose command line names `dir`: what the demo started there (the lab's run detached). */
async function startedIn(dir: string): Promise<string[]> {
  const { stdout } = await execa('ps', ['-eo', 'pid=,args=']);
  return stdout.split('\n').filter((line) => line.includes(dir));
}

/** Whether something still accepts connections on the port. */
const listening = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

async function until(what: string, done: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

let dir = '';
let group: number | undefined;
afterAll(async () => {
  // Whatever a failed run of this test left: the demo's process group, and the lab its own command stops.
  if (group) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (dir)
    await execa('node', [join(ROOT, 'lab/bin/talos-lab.js'), 'down', '--dir', join(dir, 'lab')], {
      reject: false,
    });
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('Ctrl-C in the terminal of `npm run demo -- --keep` once its stack is up: nothing it started is left, no port held', async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-demo-'));
  // Its own process group, as a terminal's foreground job: Ctrl-C sends SIGINT to every process in it.
  const demo = spawn('npm', ['run', '--silent', 'demo', '--', '--keep'], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, TALOS_UPGRADE_DEMO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (!demo.pid) throw new Error('npm run demo did not start');
  group = demo.pid;
  let exited = false;
  demo.on('exit', () => (exited = true));
  let output = '';
  demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Up: Temporal with its Web UI, and the lab (its daemon, etcd, the Kubernetes control plane, kwok and
  // the lab Talos API), all running when the demo moves on to Renovate.
  await until(
    'the demo stack up',
    () => {
      if (exited) throw new Error(`the demo ended before its stack was up:\n${output}`);
      return output.includes('▶ Renovate (the real one)');
    },
    300_000,
  );
  const temporal = /Temporal at ([\d.]+):(\d+)/.exec(output);
  expect(temporal).not.toBeNull();
  const [, host = '', port = '0'] = temporal ?? [];
  expect(await listening(host, Number(port))).toBe(true);
  const running = await startedIn(dir);
  expect(running.length).toBeGreaterThanOrEqual(6);

  process.kill(-group, 'SIGINT');
  await until(
    'every process the demo started stopped',
    async () => (await startedIn(dir)).length === 0,
    120_000,
  ).catch(async (error: unknown) => {
    throw new Error(`${String(error)}; still running:\n${(await startedIn(dir)).join('\n')}\n${output}`);
  });
  expect(output).toContain('SIGINT: stopping everything the demo started');
  expect(await listening(host, Number(port))).toBe(false);
}, 600_000);
