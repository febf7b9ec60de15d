import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { KUBERNETES_RELEASES } from '../state/labState.js';
import { answerReleases, kubernetesReleaseEntries, talosReleaseEntries } from './githubReleases.js';
import { imageExists } from './installerImage.js';
import { factoryDiskImage, schematicDocument } from './schematics.js';
import { boundPort } from '../net/freePort.js';
import type { LabCluster } from './labCluster.js';

/**
 * A loopback OCI registry for installer images, shaped like the Talos image factory: anonymous
 * pulls get a bearer-token challenge first (as factory.talos.dev and ghcr.io do), then
 * `HEAD /v2/<installer>/<schematic>/manifests/v<version>` answers 200 or 404.
 * `GET /schematics/<id>` answers a schematic as the factory stores it (lab/presets/schematics.yaml).
 * `GET /releases` lists the released Talos versions, one per line (a user's own list file);
 * `GET /repos/siderolabs/talos/releases` lists them as GitHub's releases API does (githubReleases.ts),
 * `GET /repos/kubernetes/kubernetes/releases` the Kubernetes releases whose images the registry has;
 * `/image/…` serves the factory's disk images of the same releases. One registry serves every
 * cluster of the lab: an image is there when no cluster's faults took it away, and `/v2/` answers 503
 * while any cluster has a registry-down fault without a node.
 */
export function startRegistry(clusters: () => LabCluster[]): Promise<Server> {
  const tokens = new Set<string>();
  /** The port the system gave the registry, for its token realm. */
  let port = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const send = (status: number, body = '', headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Docker-Distribution-API-Version': 'registry/2.0', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const all = clusters();
    if (url.pathname === '/releases')
      return send(200, (all[0]?.state.releases ?? []).map((v) => `v${v}`).join('\n') + '\n', {
        'Content-Type': 'text/plain',
      });
    const releasesOf = {
      '/repos/siderolabs/talos/releases': () => talosReleaseEntries(all[0]?.state.releases ?? []),
      '/repos/kubernetes/kubernetes/releases': () => kubernetesReleaseEntries(KUBERNETES_RELEASES),
    }[url.pathname];
    if (releasesOf) {
      // What GitHub serves, not what the registry does: no registry header.
      const ifNoneMatch = req.headers['if-none-match'];
      const answer = answerReleases(
        url,
        typeof ifNoneMatch === 'string' ? ifNoneMatch : undefined,
        releasesOf(),
      );
      res.writeHead(answer.status, answer.headers);
      return res.end(answer.body || undefined);
    }
    if (url.pathname === '/token') {
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      return send(200, JSON.stringify({ token, access_token: token, expires_in: 300 }), {
        'Content-Type': 'application/json',
      });
    }
    // The Image Factory's schematics (`GET /schematics/<id>`, its YAML; 404 "schematic not found"
    // for an id it does not know: image-factory internal/frontend/http/configuration.go).
    const schematicId = /^\/schematics\/([0-9a-f]{64})$/.exec(url.pathname)?.[1];
    if (schematicId && req.method === 'GET') {
      const document = schematicDocument(schematicId);
      return document
        ? send(200, document, { 'Content-Type': 'application/yaml' })
        : send(404, 'schematic not found\n', { 'Content-Type': 'text/plain' });
    }
    // The Image Factory's disk images (`/image/<schematic>/v<version>/nocloud-amd64.raw.zst`), which a
    // repository's download_file fetches to boot new VMs from: the same releases as the installers.
    const disk = factoryDiskImage(url.pathname);
    if (disk) {
      const ref = { repository: 'image', ...disk };
      const there = all.length > 0 && all.every((lab) => imageExists(lab, ref));
      return there
        ? send(200, '', { 'Content-Type': 'application/octet-stream', 'Content-Length': '0' })
        : send(404, 'image not found');
    }
    if (!url.pathname.startsWith('/v2/')) return send(404, 'not found');
    // A registry that is down is down for every client: the worker's checks too, not only the nodes'
    // pulls (a registry-down fault without --node; with one, only that node's path to it fails).
    if (all.some((lab) => lab.fire('registry-down')))
      return send(503, 'service unavailable\n', { 'Content-Type': 'text/plain' });
    const auth = req.headers.authorization ?? '';
    if (!tokens.has(auth.replace(/^Bearer /, ''))) {
      const scope = /^\/v2\/(.+)\/manifests\//.exec(url.pathname)?.[1];
      return send(
        401,
        JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }),
        {
          'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="talos-lab-registry"${scope ? `,scope="repository:${scope}:pull"` : ''}`,
          'Content-Type': 'application/json',
        },
      );
    }
    if (url.pathname === '/v2/') return send(200, '{}');
    const match = /^\/v2\/([\w.-]*installer)\/([0-9a-f]{64})\/manifests\/v?(\d+\.\d+\.\d+)$/.exec(
      url.pathname,
    );
    const ref = { repository: match?.[1] ?? '', schematic: match?.[2] ?? '', version: match?.[3] ?? '' };
    const found = match && all.length > 0 && all.every((lab) => imageExists(lab, ref));
    if (!found)
      return send(
        404,
        JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }),
        { 'Content-Type': 'application/json' },
      );
    const digest = `sha256:${Buffer.from(url.pathname).toString('hex').padEnd(64, '0').slice(0, 64)}`;
    return send(200, '{}', {
      'Content-Type': 'application/vnd.oci.image.index.v1+json',
      'Docker-Content-Digest': digest,
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      port = boundPort(server); // read once: after a close, address() is null
      resolve(server);
    });
  });
}
