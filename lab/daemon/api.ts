import { createServer, type IncomingMessage, type Server } from 'node:http';
import { isFaultKind, type FaultKind } from '../state/faults.js';
import { datastoreVolume } from '../state/labState.js';
import { answerNodeCall, type NodeCall } from '../talos/nodeApi.js';
import { applyFault, clearFault } from './faultEffects.js';
import { TalosApiError, type LabCluster, type LabTiming } from './labCluster.js';
import { buildReport } from './monitor.js';
import { statusRows } from './statusRows.js';
import {
  adoptTemplate,
  adoptVm,
  buildTemplate,
  createVm,
  destroyTemplate,
  destroyVm,
} from './vmLifecycle.js';

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const str = (body: Record<string, unknown>, key: string): string => {
  const v = body[key];
  if (typeof v !== 'string' || !v) throw new Error(`"${key}" is required`);
  return v;
};

/**
 * The lab daemon's control API on 127.0.0.1: the lab Talos API server, the lab's Terraform providers
 * and the talos-lab command all talk to it, so one process owns the lab's state. A fleet's clusters are
 * addressed as /clusters/<name>/…; a path without that prefix means the lab's first cluster.
 */

export function startApi(clusters: ReadonlyMap<string, LabCluster>, onShutdown: () => void): Promise<Server> {
  // Keep-alive far longer than the lab Talos API's idle timeout (5 s): the client always closes an
  // idle connection first, so no request ever races the server's close.
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      let path = new URL(req.url ?? '/', 'http://lab').pathname;
      if (path === '/clusters') return reply(200, { clusters: [...clusters.keys()] });
      const prefixed = /^\/clusters\/([^/]+)(\/.*)$/.exec(path);
      const lab = prefixed ? clusters.get(prefixed[1] ?? '') : clusters.values().next().value;
      if (prefixed) path = prefixed[2] ?? '/';
      if (path === '/shutdown' && req.method === 'POST') {
        reply(200, { stopping: true });
        return onShutdown();
      }
      if (!lab) return reply(404, { error: `no lab cluster ${prefixed?.[1] ?? '(none yet)'}` });
      const route = `${req.method ?? 'GET'} ${path}`;
      const body = req.method === 'POST' || req.method === 'DELETE' ? await readJson(req) : {};
      if (req.method === 'POST' && path.startsWith('/talos/')) {
        // A node's machined, asked by the lab Talos API server: Talos errors travel as values. The
        // server drops the request when its gRPC caller goes (a client's deadline): the call's context.
        const caller = new AbortController();
        res.on('close', () => {
          if (!res.writableFinished) caller.abort();
        });
        try {
          return reply(200, {
            result: await answerNodeCall(lab, path.slice('/talos/'.length), body as NodeCall, caller.signal),
          });
        } catch (error) {
          if (error instanceof TalosApiError)
            return reply(200, { error: { code: error.code, message: error.description } });
          throw error;
        }
      }
      switch (route) {
        case 'GET /state':
          return reply(200, { state: lab.state, faults: lab.faults });
        case 'GET /status':
          return reply(200, {
            preset: lab.state.preset,
            cluster: lab.state.cluster,
            rows: await statusRows(lab),
            faults: lab.faults,
          });
        case 'GET /report':
          return reply(200, await buildReport(lab));
        case 'POST /vm/create':
          return reply(200, {
            message: await createVm(lab, str(body, 'node'), {
              version: str(body, 'version'),
              ...(typeof body.file === 'string' && body.file
                ? { file: body.file, host: str(body, 'host') }
                : {}),
            }),
          });
        case 'POST /datastore/file':
          lab.state.datastore = {
            ...lab.state.datastore,
            [datastoreVolume(str(body, 'node'), str(body, 'id'))]: str(body, 'url'),
          };
          lab.persist();
          return reply(200, { message: `${str(body, 'id')}: downloaded` });
        case 'POST /datastore/remove': {
          const volume = datastoreVolume(str(body, 'node'), str(body, 'id'));
          const { [volume]: _removed, ...kept } = lab.state.datastore ?? {};
          lab.state.datastore = kept;
          lab.persist();
          return reply(200, { message: `${str(body, 'id')}: removed` });
        }
        case 'POST /vm/adopt':
          return reply(200, { message: adoptVm(lab, str(body, 'node'), str(body, 'version')) });
        case 'POST /vm/destroy':
          return reply(200, { message: await destroyVm(lab, str(body, 'node')) });
        case 'POST /template/build':
          return reply(200, {
            message: await buildTemplate(lab, str(body, 'template'), str(body, 'version')),
          });
        case 'POST /template/adopt':
          return reply(200, { message: adoptTemplate(lab, str(body, 'template')) });
        case 'POST /template/destroy':
          return reply(200, { message: destroyTemplate(lab, str(body, 'template')) });
        case 'GET /faults':
          return reply(200, { faults: lab.faults });
        case 'POST /faults': {
          const kind = str(body, 'kind');
          if (!isFaultKind(kind)) return reply(400, { error: `unknown fault kind "${kind}"` });
          return reply(200, {
            fault: await applyFault(lab, { kind, ...body }),
          });
        }
        case 'DELETE /faults':
          return reply(200, { cleared: await clearFault(lab, body.kind as FaultKind | undefined) });
        case 'POST /config': {
          if (typeof body.maxUnavailableWorkers === 'number')
            lab.state.maxUnavailableWorkers = body.maxUnavailableWorkers;
          // The waits a test slows for one case (e.g. a Node that stays Ready after its VM is gone).
          const timing = Object.entries((body.timing ?? {}) as Record<string, unknown>);
          const bad = timing.find(
            ([key, value]) => !Object.hasOwn(lab.timing, key) || typeof value !== 'number' || value < 0,
          );
          if (bad) return reply(400, { error: `timing.${bad[0]}: not a lab wait in seconds` });
          for (const [key, value] of timing) lab.timing[key as keyof LabTiming] = value as number;
          lab.persist();
          return reply(200, { maxUnavailableWorkers: lab.state.maxUnavailableWorkers, timing: lab.timing });
        }
        default:
          return reply(404, { error: `no route ${route}` });
      }
    })().catch((error: unknown) =>
      reply(500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });
  // Upgrades with --wait and health checks hold a request for minutes.
  server.requestTimeout = 0;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve(server));
  });
}
