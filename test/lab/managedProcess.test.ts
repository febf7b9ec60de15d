import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { abortable } from '../../src/activities/abortable.js';
import { kubeconfigYaml } from '../../lab/kube/kubeconfig.js';
import { startProcess, waitUntil } from '../../lab/process/managedProcess.js';
import { silentServer, stillOpen } from './silentServer.js';

let dir: string;
/** A shell script run as one of the lab's child servers, its output logged under `dir`. */
const shell = (name: string, script: string) => startProcess(name, 'sh', ['-c', script], dir);
/** A probe that never gets an answer, as one to a server that accepts and never replies. */
const unanswered = () => new Promise<boolean>(() => undefined);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-managed-process-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// A server that dies at once (etcd on a taken port) is stopped by the lab as soon as its exit is
// seen, while the last of its output can still be on its way: it must reach the log, and the log must
// not be written after it was ended (a CI run failed on 'write after end'). The late writer here is a
// grandchild that outlives the child, which makes "output after exit" certain rather than a race.
it('keeps the output that arrives after a stopped child has exited', async () => {
  const proc = shell('late-writer', 'echo early; (sleep 0.5; echo late; echo late >&2) & exit 3');
  await new Promise((resolve) => proc.child.once('exit', resolve));
  await proc.stop();
  expect(await readFile(proc.logFile, 'utf8')).toBe('early\nlate\nlate\n');
  expect(await proc.lastLines()).toBe('early\nlate\nlate');
}, 30_000);

it('waits a little, not for ever, for a grandchild that holds the output open', async () => {
  // `sleep` inherits the shell's output and outlives it; $! is its own pid.
  const proc = shell('holder', 'sleep 30 & echo $!; exit 0');
  await new Promise((resolve) => proc.child.once('exit', resolve));
  const started = Date.now();
  await proc.stop();
  const waited = Date.now() - started;
  const grandchild = Number((await readFile(proc.logFile, 'utf8')).trim());
  try {
    // Its 2 s wait for the output, not the grandchild's 30 s (the old stop did not wait at all).
    expect(waited).toBeGreaterThanOrEqual(1500);
    expect(waited).toBeLessThan(10_000);
    expect(proc.child.stdout?.destroyed).toBe(true);
  } finally {
    if (grandchild > 1) process.kill(grandchild);
  }
}, 30_000);

// The lab's API server, unable to bind a port another server held, had written its certificate;
// the probe then connected to that other server, which accepted and never answered, and the wait
// hung past its deadline (a cold fresh clone's freshPorts suite, 300 s, 2026-11-27).
it('notices a watched process that dies while a probe gets no answer', async () => {
  const proc = shell('dies-soon', 'echo "bind: address already in use"; sleep 0.3; exit 1');
  try {
    const started = Date.now();
    await expect(
      waitUntil('an answer', unanswered, {
        timeoutMs: 60_000,
        process: proc,
        probeTimeoutMs: 500,
      }),
    ).rejects.toThrow(/dies-soon exited \(code 1\) before an answer[\s\S]*address already in use/);
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    await proc.stop();
  }
}, 30_000);

it('gives up at its deadline when no probe is ever answered', async () => {
  await expect(waitUntil('an answer', unanswered, { timeoutMs: 1000 })).rejects.toThrow(
    'timed out after 1s waiting for an answer',
  );
}, 30_000);

// A given-up probe ended only in waitUntil: its request stayed open until the socket died, and the
// next probe opened another beside it. Here the probes are the API server's own (client-node against
// a port that accepts and never answers, as the held port above): each connection must be closed by
// the client once its probe is given up, while the server still keeps it.
it('ends the request of a probe it gives up', async () => {
  const { port, sockets, release } = await silentServer();
  try {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml(`https://127.0.0.1:${port}`, '', 'token'));
    const core = kc.makeApiClient(CoreV1Api);
    let probes = 0;
    await expect(
      waitUntil(
        'the API server',
        async (signal) => {
          probes++;
          await core.readNamespace({ name: 'default' }, abortable(signal));
          return true;
        },
        { timeoutMs: 1500, probeTimeoutMs: 300, intervalMs: 50 },
      ),
    ).rejects.toThrow('timed out after 1.5s waiting for the API server');
    // Each probe connects at once (a token kubeconfig needs no I/O first); a last probe cut short by
    // the deadline may still be given up before it does.
    expect(sockets.length).toBeGreaterThanOrEqual(2);
    expect(sockets.length).toBeLessThanOrEqual(probes);
    // Closed from the client's side (the server never ends a socket it accepted here), within 2 s.
    expect(await stillOpen(sockets, 2000)).toBe(0);
  } finally {
    await release();
  }
}, 30_000);
