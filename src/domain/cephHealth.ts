/**
 * What a Rook CephCluster's `status.ceph` says about the storage, for the health gates. Read against
 * Rook v1.18.11 (pkg/apis/ceph.rook.io/v1/types.go CephStatus: `health`, `details` keyed by Ceph's
 * check code with `{severity, message}`, `lastChecked`) and Ceph v18.2.7's health checks
 * (src/osd/OSDMap.cc, src/mon/PGMap.cc, src/mon/HealthMonitor.cc).
 */
export interface CephStatusView {
  health?: string;
  details?: Record<string, { severity?: string; message?: string }>;
  lastChecked?: string;
}

/**
 * The checks a node's cordon, drain and reboot raise on a healthy cluster, and that clear by
 * themselves once its OSDs are back and the placement groups have recovered: its OSDs down
 * (OSD_DOWN, OSD_HOST_DOWN), the `noout` Rook sets on the drained host (OSD_FLAGS) or by hand
 * (OSDMAP_FLAGS), degraded and peering placement groups (PG_DEGRADED, PG_AVAILABILITY, both WARN
 * only), a mon on the node out of quorum (MON_DOWN) and the slow requests of the moment (SLOW_OPS).
 * Any other check (a nearly full OSD, a crash, clock skew, damaged PGs) is no recovery in progress.
 */
export const CEPH_RECOVERY_CHECKS: ReadonlySet<string> = new Set([
  'OSD_DOWN',
  'OSD_HOST_DOWN',
  'OSD_FLAGS',
  'OSDMAP_FLAGS',
  'PG_DEGRADED',
  'PG_AVAILABILITY',
  'MON_DOWN',
  'SLOW_OPS',
]);

export type CephVerdict =
  | { state: 'ok' }
  /** Only recovery in progress, or Rook could not read `ceph status` this time: wait and read again. */
  | { state: 'recovering'; why: string }
  | { state: 'failed'; why: string };

/** One line of what the status says: its health and each check's message, by code. */
export function describeCephStatus(status: CephStatusView | undefined): string {
  const details = Object.entries(status?.details ?? {})
    .map(([code, d]) => `${code}: ${d.message ?? d.severity ?? ''}`)
    .join('; ');
  return `${status?.health ?? 'no health reported'}${details ? ` (${details})` : ''}`;
}

/**
 * HEALTH_OK passes. A WARN made only of recovery checks is recovering. Rook's own `details.error`
 * (severity Urgent: `ceph status` failed, e.g. during a mon election; Rook v1.18.11
 * pkg/operator/ceph/cluster/cephstatus.go) is read again too. Anything else fails: HEALTH_ERR, or a
 * WARN with a check that does not clear by itself.
 */
export function cephVerdict(status: CephStatusView | undefined): CephVerdict {
  const health = status?.health;
  if (health === 'HEALTH_OK') return { state: 'ok' };
  const why = describeCephStatus(status);
  const codes = Object.keys(status?.details ?? {});
  if (status?.details?.error?.severity === 'Urgent') return { state: 'recovering', why };
  if (health === 'HEALTH_WARN' && codes.length > 0 && codes.every((code) => CEPH_RECOVERY_CHECKS.has(code)))
    return { state: 'recovering', why };
  return { state: 'failed', why };
}
