import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startControlPlane, type KubeBinaries } from '../../lab/kube/controlPlane.js';
import { freePort } from '../../lab/net/freePort.js';
import { portWasTaken, takenPorts, withFreshPorts } from '../../lab/net/freshPorts.js';
import { ensureTools } from '../../lab/tools.js';
import { silentServer } from './silentServer.js';

describe('withFreshPorts', () => {
  const taken = (port: number) => new Error(`listen tcp 127.0.0.1:${port}: bind: address already in use`);

  it('starts again on new ports when one it picked was taken, and says so', async () => {
    const said: string[] = [];
    const ports: number[] = [];
    const started = await withFreshPorts(
      'a server',
      async (pick) => {
        const port = await pick();
        ports.push(port);
        if (ports.length === 1) throw new Error('the server exited', { cause: taken(port) });
        return port;
      },
      { progress: (m) => said.push(m) },
    );
    expect(ports).toHaveLength(2);
    expect(started).toBe(ports[1]);
    expect(said).toEqual([
      'a server: a port was taken before its server bound it (the server exited); starting again with new ports (attempt 2 of 3)',
    ]);
  });

  it('gives up after its tries, and never retries a port it did not pick or another failure', async () => {
    let calls = 0;
    await expect(
      withFreshPorts('a server', async (pick) => {
        calls++;
        throw taken(await pick());
      }),
    ).rejects.toThrow('address already in use');
    expect(calls).toBe(3);
    for (const failure of [
      taken(50000), // a node's port held by a leftover process: new ports do not help
      new Error('etcd exited (code 1): data dir corrupt'),
    ]) {
      calls = 0;
      await expect(
        withFreshPorts('a server', async (pick) => {
          calls++;
          await pick();
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(calls).toBe(1);
    }
  });

  it('starts again when a server that picks ports of its own found one of those taken', async () => {
    // The dev server's matching service, on a port it picked itself (CI, 2026-11-27): any port but ours.
    const ownPortTaken = (ours: number) =>
      new Error(
        'temporal-server exited (code 2) before the Temporal dev server; its last lines:\n' +
          `level=ERROR msg="Failed to start gRPC listener" error="${taken(ours + 1).message}"`,
      );
    for (const picksOwnPorts of [true, false]) {
      let calls = 0;
      const start = withFreshPorts(
        'a server',
        async (pick) => {
          calls++;
          const ours = await pick();
          if (calls === 1) throw ownPortTaken(ours);
          return 'started';
        },
        { picksOwnPorts },
      );
      if (picksOwnPorts) await expect(start).resolves.toBe('started');
      else await expect(start).rejects.toThrow('bind: address already in use');
      expect(calls).toBe(picksOwnPorts ? 2 : 1);
    }
    // A port the caller gave (a restart's, kept) taken, or any other failure, is thrown at once.
    for (const failure of [taken(7233), new Error('temporal-server exited (code 1): database is locked')]) {
      let calls = 0;
      await expect(
        withFreshPorts(
          'a server',
          async (pick) => {
            calls++;
            await pick(7233);
            throw failure;
          },
          { picksOwnPorts: true },
        ),
      ).rejects.toBe(failure);
      expect(calls).toBe(1);
    }
  });

  it('reads the causes of an error, and stops at a cause that loops', () => {
    expect(portWasTaken(new Error('x', { cause: new Error('y', { cause: taken(41234) }) }), [41234])).toBe(
      true,
    );
    expect(portWasTaken(taken(41234), [41235])).toBe(false);
    expect(
      takenPorts(new Error('x', { cause: new Error(`${taken(41234).message}\n${taken(41235).message}`) })),
    ).toEqual([41234, 41235]);
    const loop = new Error('a');
    loop.cause = loop;
    expect(portWasTaken(loop, [41234])).toBe(false);
  });
});

describe('the lab control plane on a port taken between its pick and its bind', () => {
  let bin: KubeBinaries;
  let dir: string;
  beforeAll(async () => {
    bin = await ensureTools('kube', 'kwok');
    dir = await mkdtemp(join(tmpdir(), 'talos-fresh-ports-'));
  }, 1_800_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // etcd first: the API server outlives an etcd that could not bind (it retries etcd until its own
  // timeout), so only watching etcd itself notices; then the API server's own port.
  it.each(['etcdClient', 'api'] as const)(
    'starts again on new ports when %s finds its port taken',
    async (which) => {
      // A port held by someone else, as another suite's server holds the port the lab picked a moment ago.
      const held = await silentServer();
      const said: string[] = [];
      const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), api: await freePort() };
      try {
        const controlPlane = await startControlPlane(
          join(dir, which),
          bin,
          (m) => said.push(m),
          0,
          undefined,
          { ...ports, [which]: held.port },
        );
        try {
          // The process that could not bind is the one found dead: not a timeout of the API server.
          const retries = said.filter((m) => m.includes('a port was taken'));
          expect(retries).toEqual([
            expect.stringContaining(which === 'api' ? '(kube-apiserver exited' : '(etcd exited'),
          ]);
          expect(controlPlane.server).not.toContain(`:${held.port}`);
        } finally {
          await controlPlane.stop();
        }
      } finally {
        await held.release();
      }
    },
    // Two control planes started one after the other: 20 s alone, over 120 s on a loaded cold clean
    // clone (2026-11-26).
    300_000,
  );
});
