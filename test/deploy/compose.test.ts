import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';

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

  it('publishes only the webhook beyond loopback', async () => {
    const { services } = await load();
    for (const [name, service] of Object.entries(services))
      for (const port of service.ports ?? []) {
        if (name === 'webhook') continue;
        expect([name, port]).toEqual([name, expect.stringMatching(/^127\.0\.0\.1:/)]);
      }
  });
});
