import type { Lab } from '../lab/labHarness.js';

/** What `talos-lab report --json` and `status --json` say (the lab daemon's /report and /status), typed for the assertions of the workflow tests. */
export interface LabReport {
  ok: boolean;
  violations: Array<{ at: string; invariant: string; detail: string }>;
  finalChecks: { cordoned: string[]; versions: Record<string, string[]>; notRunning: string[] };
  vms: Array<{ node: string; talosVersion: string; destroyed: number; created: number }>;
  timeline: Array<{ at: string; kind: string; node?: string; detail?: string }>;
}

export interface LabStatusRow {
  node: string;
  role: string;
  talos: string;
  vm: string;
  ready: boolean;
  cordoned: boolean;
  /** A Talos version installed for the node's next boot, if any. */
  staged?: string;
}

export async function labReport(lab: Lab): Promise<LabReport> {
  return lab.api<LabReport>('/report');
}

export async function labStatus(lab: Lab): Promise<LabStatusRow[]> {
  return (await lab.api<{ rows: LabStatusRow[] }>('/status')).rows;
}

/** Timeline events after a mark taken with `timelineMark`, to see what one test's run did. */
export async function eventsSince(lab: Lab, mark: number): Promise<LabReport['timeline']> {
  return (await labReport(lab)).timeline.slice(mark);
}

export async function timelineMark(lab: Lab): Promise<number> {
  return (await labReport(lab)).timeline.length;
}

/** Events of the lab that change a node: none may follow a refusal in pre-flight. */
export const TOUCHING = new Set([
  'cordoned',
  'upgrade-started',
  'vm-destroyed',
  'vm-created',
  'etcd-left',
  'template-built',
  'template-destroyed',
]);

/** The notifications a workflow run sent, as its history's `notify` activities were scheduled with them. */
export async function notificationsOf(handle: {
  fetchHistory(): Promise<{
    events?: Array<{
      activityTaskScheduledEventAttributes?: {
        activityType?: { name?: string | null } | null;
        input?: { payloads?: Array<{ data?: Uint8Array | null }> | null } | null;
      } | null;
    }> | null;
  }>;
}): Promise<Array<{ kind: string; message?: string }>> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes)
    .filter((a) => a?.activityType?.name === 'notify')
    .map((a) => {
      const [input] = (a?.input?.payloads ?? []).map(
        (p) =>
          JSON.parse(Buffer.from(p.data ?? []).toString()) as { event: { kind: string; message?: string } },
      );
      return input?.event ?? { kind: '' };
    });
}
