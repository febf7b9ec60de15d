import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { STOP_GRACE_MS } from '../../src/worker/shutdown.js';

// No Docker engine runs here, so the deployment is checked by its structure: what a reviewer of a
// compose file for a real installation would look for.
const root = new URL('../../', import.meta.url);

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  healthcheck?: { test: unknown };
  ports?: string[];
  secrets?: string[];
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file?: string; environment?: string }>;
}

const load = async () =>
  parse(await readFile(new URL('docker-compose.yml', root), 'utf8'), { merge: true }) as Compose;

describe('docker-compose.yml', () => {
  it('has the services of an installation, in the right start order', async () => {
    const { services } = await load();
    expect(Object.keys(services).sort()).toEqual(
      [
        'postgresql',
        'temporal',
        'temporal-schema',
        'temporal-search-attributes',
        'temporal-ui',
        'webhook',
        'worker',
      ].sort(),
    );
    expect(services['temporal-schema']?.depends_on?.postgresql?.condition).toBe('service_healthy');
    expect(services.temporal?.depends_on?.['temporal-schema']?.condition).toBe(
      'service_completed_successfully',
    );
    expect(services.worker?.depends_on?.['temporal-search-attributes']?.condition).toBe(
      'service_completed_successfully',
    );
    expect(services.worker?.build).toBeDefined();
    expect(services.webhook?.image).toBe(services.worker?.image);
  });

  it('pins every image and uses the admin tools rather than the deprecated auto-setup', async () => {
    const { services } = await load();
    for (const [name, service] of Object.entries(services)) {
      // The project's own image is built from the Dockerfile (checked below), not pulled.
      if (service.build || service.image === services.worker?.image) continue;
      expect([name, service.image]).toEqual([name, expect.stringMatching(/^[\w./-]+:\d[\w.-]*$/)]);
      expect(service.image).not.toMatch(/auto-setup|:latest$/);
    }
    const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');
    for (const from of dockerfile.matchAll(/^(?:FROM|ARG NODE_IMAGE=)\s*(\S+)/gm))
      if (!from[1]?.startsWith('$')) expect(from[1]).toMatch(/:[v\d][\w.-]*$/);
  });

  it('has healthchecks on every long-running service', async () => {
    const { services } = await load();
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'worker', 'webhook'])
      expect([name, services[name]?.healthcheck?.test]).toEqual([name, expect.anything()]);
  });

  it('keeps secrets in files, never inline', async () => {
    const compose = await load();
    for (const [name, service] of Object.entries(compose.services))
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (/PASSWORD|SECRET|TOKEN|API_KEY|PWD/.test(key))
          expect([name, key, String(value)]).toEqual([name, key, expect.stringMatching(/^\/run\/secrets\//)]);
      }
    for (const [name, secret] of Object.entries(compose.secrets))
      expect([name, secret.file]).toEqual([name, expect.stringMatching(/^\.\/secrets\//)]);
    const gitignore = await readFile(new URL('.gitignore', root), 'utf8');
    expect(gitignore).toMatch(/^\/?secrets\/$/m);
  });

  it("gives the worker a backups folder it can write, probes the webhook's readiness, and names files that exist", async () => {
    const text = await readFile(new URL('docker-compose.yml', root), 'utf8');
    const { services } = await load();
    // A named volume takes the owner of the image's folder: the image makes it the node user's.
    const backups = (services.worker as { volumes?: string[] }).volumes?.find((v) =>
      v.endsWith(':/var/lib/talos-upgrade/backups'),
    );
    expect(backups).toBeDefined();
    const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');
    expect(dockerfile).toMatch(/chown -R node:node \/var\/lib\/talos-upgrade\n(?:.*\n)*USER node/);
    // /healthz says ok while Temporal is down; /readyz only while a delivery can be recorded.
    expect(JSON.stringify(services.webhook?.healthcheck?.test)).toContain('/readyz');
    // Every repository path the file mentions exists.
    for (const [, path] of text.matchAll(/\b((?:deploy|docs)\/[\w.-]+)/g))
      await expect(readFile(new URL(path ?? '', root), 'utf8')).resolves.toBeDefined();
    // The examples read the Discord URL from the secret the compose file mounts, not from an
    // environment variable it never sets.
    const example = await readFile(new URL('examples/prox-ops.yaml', root), 'utf8');
    expect(example).toContain('url: { file: /run/secrets/discord_webhook_url }');
    expect(Object.keys((await load()).secrets)).toContain('discord_webhook_url');
  });

  it('stops the worker no sooner than its steps and a cancelled Terraform run can end (src/worker/shutdown.ts)', async () => {
    const { services } = await load();
    const grace = (services.worker as { stop_grace_period?: string }).stop_grace_period ?? '10s';
    const [, amount = '0', unit = 's'] = /^(\d+)(s|m)$/.exec(grace) ?? [];
    // Docker's default is 10 s; a margin of 10 s for the worker's own exit after the last step.
    expect(Number(amount) * (unit === 'm' ? 60_000 : 1000)).toBeGreaterThanOrEqual(STOP_GRACE_MS + 10_000);
  });

  it('publishes only the webhook beyond loopback', async () => {
    const { services } = await load();
    for (const [name, service] of Object.entries(services))
      for (const port of service.ports ?? []) {
        if (name === 'webhook') continue;
        expect([name, port]).toEqual([name, expect.stringMatching(/^127\.0\.0\.1:/)]);
      }
  });
});

describe('Dockerfile', () => {
  it('ships the talosctl the project builds and tests against (lab/talos-api/go.mod), at least 1.13.7', async () => {
    const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');
    const goMod = await readFile(new URL('lab/talos-api/go.mod', root), 'utf8');
    const shipped = /FROM ghcr\.io\/siderolabs\/talosctl:v(\d+\.\d+\.\d+) AS talosctl/.exec(dockerfile)?.[1];
    const tested = /^\tgithub\.com\/siderolabs\/talos v(\d+\.\d+\.\d+)$/m.exec(goMod)?.[1];
    expect(shipped).toBeDefined();
    expect(shipped).toBe(tested);
    // 1.13.7 is the first client with `upgrade --no-reboot` (install before drain on 1.13 nodes); from
    // 1.12.5 on, clients keep extra config documents on 1.11 nodes and read 1.12 configs.
    const [major = 0, minor = 0, patch = 0] = (shipped ?? '').split('.').map(Number);
    expect(major * 10_000 + minor * 100 + patch).toBeGreaterThanOrEqual(11307);
  });

  it('ships the sops the tests decrypt machine configs with (scripts/ensure-tools.sh)', async () => {
    const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');
    const tools = await readFile(new URL('scripts/ensure-tools.sh', root), 'utf8');
    const shipped = /github\.com\/getsops\/sops\/v3\/cmd\/sops@v(\d+\.\d+\.\d+)/.exec(dockerfile)?.[1];
    expect(shipped).toBeDefined();
    expect(shipped).toBe(/^SOPS_VERSION=(\S+)/m.exec(tools)?.[1]);
    expect(dockerfile).toMatch(/^COPY --from=sops \/out\/sops \/usr\/local\/bin\/sops$/m);
  });
});
