import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { LAB_LABEL_CLUSTER } from '../cluster/nodeObjects.js';

/**
 * The lists a fleet member sees of its own cluster only: the Nodes and the control plane's mirror
 * pods in kube-system carry the member's label; everything else of a member already lives in a
 * namespace of its own, or is asked for by node name.
 */
const OWN_ONLY = [/^\/api\/v1\/nodes\/?$/, /^\/api\/v1\/namespaces\/kube-system\/pods\/?$/];

export interface FleetView {
  /** The API server as member `name` sees it: put this in its kubeconfig. */
  urlFor(name: string): string;
  close(): Promise<void>;
}

/** Headers of one connection, not of the request: the view has its own connections on each side. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

/** The upstream URL for a member's request, its lists narrowed to the member's own objects. */
export function upstreamUrl(path: string, upstream: string): { member: string; url: URL } | undefined {
  // The rest is a path on the API server ("//host" would name another host) or a bare query.
  const match = /^\/fleet\/([^/?]+)((?:\/(?!\/)|\?)[^]*)?$/.exec(path);
  if (!match) return undefined;
  const member = decodeURIComponent(match[1] ?? '');
  const url = new URL(match[2] ?? '/', upstream);
  if (OWN_ONLY.some((pattern) => pattern.test(url.pathname))) {
    const own = `${LAB_LABEL_CLUSTER}=${member}`;
    const selector = url.searchParams.get('labelSelector');
    url.searchParams.set('labelSelector', selector ? `${selector},${own}` : own);
  }
  return { member, url };
}

/**
 * A fleet shares one API server, but a real fleet has one per cluster: without this, every member's
 * health check listed the kube-system pods of all its siblings (900 mirror pods at 100 clusters), so
 * the bench measured the lab's artifact — lists 60 times too long on the worker, the API server and
 * in memory. Each member's kubeconfig points here, at /fleet/<member>; the view passes every request
 * through to the API server with its own credentials and narrows the lists above to the member's
 * objects. Serves on loopback with the API server's own certificate, which the kubeconfig pins.
 */
export async function startFleetView(options: {
  upstream: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}): Promise<FleetView> {
  const [ca, cert, key] = await Promise.all(
    [options.caFile, options.certFile, options.keyFile].map((file) => readFile(file, 'utf8')),
  );
  const agent = new Agent({ ca, keepAlive: true, timeout: 15_000 });
  // Idle connections are kept as long as the real API server keeps them (k8s.io/apiserver's secure
  // serving: IdleTimeout 90 s), not Node's 5 s: a client that keeps its own for less (the worker's 15 s)
  // must never send on one this end is closing. At 5 s, 44 drains of a fleet run met ECONNRESET and
  // ran again (2026-11-27), a cost of the lab, not of the product.
  const server: Server = createServer({ cert, key, keepAliveTimeout: 90_000 }, (incoming, outgoing) => {
    const target = upstreamUrl(incoming.url ?? '/', options.upstream);
    if (!target) {
      outgoing
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('not a fleet member: use /fleet/<name>/…');
      return;
    }
    const forward = request(
      target.url,
      { method: incoming.method, headers: { ...endToEnd(incoming.headers), host: target.url.host }, agent },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        // An answer cut off upstream cuts the member's answer off too, rather than leave it waiting.
        pipeline(answer, outgoing, (error) => {
          if (error) outgoing.destroy(error);
        });
      },
    );
    forward.on('error', (error) => {
      if (outgoing.headersSent) {
        outgoing.destroy(error);
        return;
      }
      outgoing.writeHead(502, { 'content-type': 'text/plain' }).end(`fleet view: ${error.message}`);
    });
    // A client that goes away before its answer ends (a cancelled watch) ends the upstream request.
    outgoing.on('close', () => {
      if (!outgoing.writableFinished) forward.destroy();
    });
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    urlFor: (name) => `https://127.0.0.1:${port}/fleet/${encodeURIComponent(name)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
