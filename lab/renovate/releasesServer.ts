import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KUBERNETES_RELEASES } from '../state/labState.js';

/**
 * Real release tags of Talos and Kubernetes (as their GitHub releases name them), for the loopback
 * stand-in of the releases API that Renovate's lookups ask in the tests and the demo.
 */
export const TALOS_TAGS = [
  'v1.10.8',
  'v1.10.9',
  'v1.11.0',
  'v1.11.1',
  'v1.11.2',
  'v1.11.3',
  'v1.11.4',
  'v1.11.5',
  'v1.12.0',
  'v1.12.1',
  'v1.12.5',
  'v1.12.9',
  'v1.13.0',
  'v1.13.4',
  'v1.13.8',
];

export const KUBERNETES_TAGS = KUBERNETES_RELEASES.map((version) => `v${version}`);

export interface ReleasesServer {
  /** The customDatasources registry URL template Renovate gets: one JSON document per package. */
  urlTemplate: string;
  /** Serves only these tags for a package from now on, as the API would have on some earlier day. */
  setTags(depName: string, tags: readonly string[]): void;
  close(): Promise<void>;
}

/**
 * Answers `GET /<owner>/<repo>.json` with `{"releases":[{"version":"v1.11.3"}, ...]}`, the format
 * of Renovate's custom datasource, on a free loopback port.
 */
export async function startReleasesServer(
  initial: Record<string, readonly string[]> = {
    'siderolabs/talos': TALOS_TAGS,
    'kubernetes/kubernetes': KUBERNETES_TAGS,
  },
): Promise<ReleasesServer> {
  const tags = new Map(Object.entries(initial));
  const server: Server = createServer((request, response) => {
    const depName = /^\/(.+)\.json$/.exec(request.url ?? '')?.[1];
    const list = depName ? tags.get(depName) : undefined;
    if (request.method !== 'GET' || !list) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ releases: list.map((version) => ({ version })) }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    urlTemplate: `http://127.0.0.1:${port}/{{packageName}}.json`,
    setTags: (depName, list) => void tags.set(depName, list),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
