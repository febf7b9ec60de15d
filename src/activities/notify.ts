import { sleep } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';

export type NotificationEvent =
  | {
      kind: 'start';
      from: string;
      to: string;
      strategy: string;
      nodeCount: number;
      estimateMinutes: number;
      workflowId: string;
    }
  | {
      kind: 'node';
      node: string;
      outcome: 'upgraded' | 'failed' | 'rolled-back' | 'skipped';
      durationMs: number;
      detail?: string;
    }
  | {
      kind: 'complete';
      from: string;
      to: string;
      outcome: 'succeeded' | 'failed' | 'cancelled' | 'rejected';
      durationMs: number;
      upgraded: number;
      failed: number;
      /** "approved by alice (alice@laptop)" when an operator approved or rejected the run. */
      decidedBy?: string;
    }
  | { kind: 'rollback'; node: string; reason: string }
  | {
      kind: 'approval';
      from: string;
      to: string;
      workflowId: string;
      timeoutHours: number;
      /** What pre-flight checked before the wait: the approver decides on it. */
      preFlight: string;
    }
  | { kind: 'canary'; node: string; to: string; holdMinutes: number; workflowId: string }
  | { kind: 'critical'; message: string }
  /** `doctor --notify-test`: sent to every target, whatever events it takes, to show the URL works. */
  | { kind: 'test'; message: string };

const COLORS = { green: 0x2ecc71, blue: 0x3498db, orange: 0xe67e22, red: 0xe74c3c, yellow: 0xf1c40f };

const minutes = (ms: number) => `${Math.max(1, Math.round(ms / 60_000))} min`;

/** A Discord embed per event: what happened, on which cluster and node, and what to do if anything. */
export function discordEmbed(cluster: string, event: NotificationEvent): Record<string, unknown> {
  const base = { timestamp: new Date().toISOString(), footer: { text: `talos-upgrade · ${cluster}` } };
  switch (event.kind) {
    case 'start':
      return {
        ...base,
        title: `🚀 Upgrade started: ${cluster}`,
        color: COLORS.blue,
        description: `Talos ${event.from} → ${event.to} (${event.strategy})`,
        fields: [
          { name: 'Nodes', value: String(event.nodeCount), inline: true },
          { name: 'Estimate', value: `~${event.estimateMinutes} min`, inline: true },
          { name: 'Workflow', value: event.workflowId },
        ],
      };
    case 'node':
      return {
        ...base,
        title: `${event.outcome === 'upgraded' ? '✅' : event.outcome === 'skipped' ? '⏭️' : '❌'} ${event.node}: ${event.outcome}`,
        color: event.outcome === 'upgraded' ? COLORS.green : COLORS.red,
        description: event.detail ?? '',
        fields: [{ name: 'Duration', value: minutes(event.durationMs), inline: true }],
      };
    case 'complete':
      return {
        ...base,
        title: `${event.outcome === 'succeeded' ? '🎉' : '⚠️'} Upgrade ${event.outcome}: ${cluster}`,
        color: event.outcome === 'succeeded' ? COLORS.green : COLORS.orange,
        description: `Talos ${event.from} → ${event.to}`,
        fields: [
          { name: 'Upgraded', value: String(event.upgraded), inline: true },
          { name: 'Failed', value: String(event.failed), inline: true },
          { name: 'Duration', value: minutes(event.durationMs), inline: true },
          ...(event.decidedBy ? [{ name: 'Decision', value: event.decidedBy }] : []),
        ],
      };
    case 'rollback':
      return {
        ...base,
        title: `↩️ Rolled back ${event.node}`,
        color: COLORS.orange,
        description: event.reason,
      };
    case 'approval':
      return {
        ...base,
        title: `✋ Approval needed: ${cluster}`,
        color: COLORS.yellow,
        description: `Talos ${event.from} → ${event.to} waits for approval (times out in ${event.timeoutHours} h). Send the \`approve\` signal in the Temporal Web UI, or run \`talos-upgrade approve ${cluster}\`.`,
        fields: [
          { name: 'Pre-flight', value: event.preFlight.slice(0, 1000) },
          { name: 'Workflow', value: event.workflowId },
        ],
      };
    case 'canary':
      return {
        ...base,
        title: `🐤 Canary upgraded: ${cluster}`,
        color: COLORS.yellow,
        description: `${event.node} runs Talos ${event.to}. The run goes on by itself in ${event.holdMinutes} min: look at it now, then \`talos-upgrade approve ${cluster}\` to go on at once or \`talos-upgrade reject ${cluster}\` to stop here (the other nodes untouched).`,
        fields: [{ name: 'Workflow', value: event.workflowId }],
      };
    case 'critical':
      return {
        ...base,
        title: `🔥 Needs a person: ${cluster}`,
        color: COLORS.red,
        description: event.message,
      };
    case 'test':
      return {
        ...base,
        title: `🔔 Test notification: ${cluster}`,
        color: COLORS.blue,
        description: event.message,
      };
  }
}

export interface NotifyResult {
  delivered: number;
  failed: Array<{ target: string; error: string }>;
}

const MAX_ATTEMPTS = 4;

/** POSTs with backoff on 429 (Discord's retry_after, or Retry-After); never throws. */
async function post(url: string, body: unknown): Promise<string | undefined> {
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      // The URL is a secret: only the error's kind goes into the result.
      return (error as Error).name === 'TimeoutError'
        ? 'timed out'
        : `request failed (${(error as Error).name})`;
    }
    if (response.ok) return undefined;
    if (response.status !== 429 || attempt >= MAX_ATTEMPTS) return `HTTP ${response.status}`;
    const fromBody = ((await response.json().catch(() => ({}))) as { retry_after?: number }).retry_after;
    const seconds = fromBody ?? Number(response.headers.get('retry-after') ?? '1');
    await sleep(Math.min(30, Math.max(0.1, seconds || 1)) * 1000);
  }
}

export function notifyActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  /** Sends one event to every target of the cluster that wants it. A failed notification never fails an upgrade. */
  async function notify(input: { cluster: string; event: NotificationEvent }): Promise<NotifyResult> {
    const c = cluster(input.cluster);
    const result: NotifyResult = { delivered: 0, failed: [] };
    for (const [index, target] of c.inventory.notifications.entries()) {
      const kind = input.event.kind;
      if (kind !== 'test' && target.events && !target.events.includes(kind)) continue;
      const name = `${target.type} #${index + 1}`;
      let url: string;
      try {
        url = (await deps.readSecret(target.url)).trim();
      } catch {
        result.failed.push({
          target: name,
          error: `its URL secret (${'env' in target.url ? `$${target.url.env}` : target.url.file}) cannot be read`,
        });
        continue;
      }
      const body =
        target.type === 'discord'
          ? { username: 'talos-upgrade', embeds: [discordEmbed(c.name, input.event)] }
          : {
              source: 'talos-upgrade',
              cluster: c.name,
              at: new Date().toISOString(),
              event: input.event.kind,
              ...input.event,
            };
      const error = await post(url, body);
      if (error) result.failed.push({ target: name, error });
      else result.delivered += 1;
    }
    return result;
  }
  return { notify };
}
