import { createHash } from 'node:crypto';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

/** The options of client-node's agent that decide which connections a request may share. */
const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/**
 * An idle connection is closed after this long: well inside the API server's own idle timeout (90 s),
 * so a request never picks a connection the server is closing, and short enough that a connection to
 * a control plane that went away (a rebooting node behind the endpoint) is not kept for long.
 */
const IDLE_MS = 15_000;

/** A value of a TLS option as text: PEM strings, buffers, lists of either, flags. */
function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(asText).join(',');
  if (typeof value === 'string' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function fingerprint(options: AgentOptions): string {
  const hash = createHash('sha256');
  for (const name of TLS_OPTIONS) hash.update(`${name}=${asText(options[name])}\n`);
  return hash.digest('hex');
}

/**
 * A KubeConfig whose requests reuse their TLS connections. client-node 1.x builds a new https.Agent
 * for every request, so each API call paid a TLS handshake, on the worker and on the API server
 * (profiled at 3 fleet clusters: 2.2 of the worker main thread's 10 busy seconds). This one keeps one
 * keep-alive agent per set of TLS credentials (a rotated client certificate gets a new agent);
 * requests through a proxy keep client-node's agent as it built it.
 */
export class KeepAliveKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, HttpsAgent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const built = context.getAgent();
    // Exactly https.Agent: a proxy agent (a subclass) carries its proxy and is left alone.
    if (!built || built.constructor !== HttpsAgent) return;
    const options = built.options;
    const key = fingerprint(options);
    let agent = this.agents.get(key);
    if (!agent) {
      const tls = Object.fromEntries(TLS_OPTIONS.map((name) => [name, options[name]]));
      agent = new HttpsAgent({ ...tls, keepAlive: true, timeout: IDLE_MS });
      this.agents.set(key, agent);
    }
    context.setAgent(agent);
  }
}
