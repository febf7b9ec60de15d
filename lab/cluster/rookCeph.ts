import { CoreV1Api, CustomObjectsApi, PolicyV1Api, type V1Pod } from '@kubernetes/client-node';
import type { NodeCache } from '../daemon/nodeCache.js';
import { isNodeReady } from '../daemon/nodeCache.js';
import type { LabCluster } from '../daemon/labCluster.js';
import { cephStatus, writeAddonStatus, type CephCheck } from './addonObjects.js';
import { ADDON_CRDS } from './crds.js';
import { OSD_LABEL, ROOK_NAMESPACE, osdBudget } from './workloads.js';

/**
 * Rook-Ceph as a homelab runs it, scaled down like the lab's other waits: one OSD on each storage
 * worker, pools of size 3, Rook's managed disruption budgets (managePodBudgets: true, as Rook's
 * example cluster.yaml sets). Read in Rook v1.18.11 and Ceph v18.2.7:
 *
 * - An OSD is up while its pod runs Ready on a Ready node. Drained, its pod is Pending (pinned to the
 *   cordoned node) until the node is uncordoned.
 * - While an OSD is down, placement groups are degraded; once every OSD is back, recovery of the writes
 *   made meanwhile takes RECOVERY_SECONDS (or a `ceph-slow-recovery` fault's --seconds).
 * - Rook (pkg/operator/ceph/disruption/clusterdisruption/osd.go): while an OSD is down and the PGs are
 *   not clean it replaces the `rook-ceph-osd` budget (maxUnavailable 1) by one per other host with
 *   maxUnavailable 0, and sets `noout` on a host whose OSD is down and whose node is cordoned or gone;
 *   the normal budget returns only once every OSD is up and every PG is clean. All of that only while
 *   the CephCluster says `disruptionManagement.managePodBudgets: true` (read with each status write):
 *   without it there is no budget and no noout (Ceph would mark the OSDs out after 10 minutes down,
 *   which the lab does not play).
 * - Rook writes CephCluster.status.ceph every STATUS_SECONDS (60 s by default in
 *   pkg/operator/ceph/cluster/cephstatus.go): what it shows may be one interval old.
 * - Two OSD hosts down at once leave PGs with one copy of three, below min_size 2: writes stop. The
 *   lab records that as a violation of `ceph-availability`.
 */
// Once a second: each tick lists the OSD pods, on every prox-ops lab of a test run (2 cores for four
// suites); Rook's own reconciles are slower still.
const TICK_MS = 1000;
/** The budgets are listed again at least this often, else only when the ones wanted change. */
const BUDGET_RESYNC_MS = 10_000;
const STATUS_SECONDS = 2;
const RECOVERY_SECONDS = 4;
/** Objects in the lab's pools, for the PG_DEGRADED message's figures. */
const OBJECTS = 3606;
const PGS = 169;

interface OsdState {
  host: string;
  up: boolean;
}

export class RookCephSim {
  private readonly core: CoreV1Api;
  private readonly policy: PolicyV1Api;
  private readonly custom: CustomObjectsApi;
  private clean = true;
  /** Since when every OSD is up again, while the placement groups recover. */
  private allUpAt: number | undefined;
  /** The hosts whose OSDs were down when Rook switched to the blocking budgets. */
  private disrupted = new Set<string>();
  private noout = new Set<string>();
  /** The CephCluster's spec.disruptionManagement.managePodBudgets as last read. */
  private managesBudgets = true;
  private lastStatus = 0;
  private lastHealth = 'HEALTH_OK';
  private busy = false;
  private readonly booted = new Set<string>();
  private writing: Promise<void> = Promise.resolve();
  /** The hosts whose OSDs were down at the last tick. */
  private down: string[] = [];
  /** The budgets last put in place, and when: an unchanged set is not listed again every tick. */
  private budgetsApplied: { names: string; at: number } | undefined;

  constructor(
    private readonly lab: LabCluster,
    private readonly nodes: NodeCache,
    private readonly hosts: string[],
  ) {
    this.core = lab.kc.makeApiClient(CoreV1Api);
    this.policy = lab.kc.makeApiClient(PolicyV1Api);
    this.custom = lab.kc.makeApiClient(CustomObjectsApi);
  }

  start(): () => void {
    const timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick()
        .catch((error: unknown) => this.lab.record('lab-error', undefined, `rook-ceph: ${String(error)}`))
        .finally(() => (this.busy = false));
    }, TICK_MS);
    return () => clearInterval(timer);
  }

  private async osds(): Promise<OsdState[]> {
    const pods = (
      await this.core.listNamespacedPod({ namespace: ROOK_NAMESPACE, labelSelector: `app=${OSD_LABEL}` })
    ).items;
    return this.hosts.map((host) => ({
      host,
      up: pods.some((pod) => pod.spec?.nodeName === host && this.podServes(pod)),
    }));
  }

  private podServes(pod: V1Pod): boolean {
    const host = pod.spec?.nodeName ?? '';
    const node = this.nodes.get(host);
    const vm = this.lab.node(host);
    return (
      pod.status?.phase === 'Running' &&
      (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') &&
      !!node &&
      isNodeReady(node) &&
      vm?.power === 'running'
    );
  }

  private recoverySeconds(): number {
    return this.lab.activeFault('ceph-slow-recovery')?.seconds ?? RECOVERY_SECONDS;
  }

  private async tick(): Promise<void> {
    const osds = await this.osds();
    // An OSD that never booted is not in Ceph's OSD map yet: not down (the lab's first pods start late).
    for (const osd of osds) if (osd.up) this.booted.add(osd.host);
    const down = osds.filter((o) => !o.up && this.booted.has(o.host)).map((o) => o.host);
    this.down = down;
    const now = Date.now();
    if (down.length > 0) {
      if (this.clean) this.lab.record('ceph-degraded', undefined, `OSDs down on ${down.join(', ')}`);
      this.clean = false;
      this.allUpAt = undefined;
    } else if (!this.clean) {
      // Read each tick: a cleared ceph-slow-recovery fault shortens a recovery under way.
      this.allUpAt ??= now;
      if (now >= this.allUpAt + this.recoverySeconds() * 1000) {
        this.clean = true;
        this.allUpAt = undefined;
        this.lab.record('ceph-clean', undefined, 'every OSD up, every placement group active+clean');
      }
    }
    if (down.length >= 2)
      this.lab.violate('ceph-availability', `OSDs of ${down.length} hosts down at once: ${down.join(', ')}`);
    this.noout = new Set(
      down.filter((host) => {
        const node = this.nodes.get(host);
        return this.managesBudgets && (!node || node.spec?.unschedulable === true);
      }),
    );
    await this.budgets(down);
    if (now - this.lastStatus >= STATUS_SECONDS * 1000) {
      this.lastStatus = now;
      await this.writeStatus();
    }
  }

  /** The status as of the last tick, written now. */
  async writeStatusNow(): Promise<void> {
    this.lastStatus = Date.now();
    await this.writeStatus();
  }

  /** Rook's managed budgets: blocking ones for the other hosts while an OSD is down or PGs unclean. */
  private async budgets(down: string[]): Promise<void> {
    const want = new Map<string, ReturnType<typeof osdBudget>>();
    if (!this.managesBudgets) {
      // Rook removes the budgets it manages.
    } else if (down.length > 0 || !this.clean) {
      for (const host of down) this.disrupted.add(host);
      for (const host of this.hosts.filter((h) => !this.disrupted.has(h)))
        want.set(`${OSD_LABEL}-host-${host}`, osdBudget(host));
    } else {
      this.disrupted.clear();
      want.set(OSD_LABEL, osdBudget());
    }
    const names = [...want.keys()].sort().join(' ');
    const now = Date.now();
    const applied = this.budgetsApplied;
    if (applied?.names === names && now - applied.at < BUDGET_RESYNC_MS) return;
    const existing = new Set(
      (await this.policy.listNamespacedPodDisruptionBudget({ namespace: ROOK_NAMESPACE })).items.map(
        (p) => p.metadata?.name ?? '',
      ),
    );
    for (const [name, body] of want)
      if (!existing.has(name))
        await this.policy
          .createNamespacedPodDisruptionBudget({ namespace: ROOK_NAMESPACE, body })
          .catch(ignoreConflict);
    for (const name of existing)
      if (name.startsWith(OSD_LABEL) && !want.has(name))
        await this.policy
          .deleteNamespacedPodDisruptionBudget({ name, namespace: ROOK_NAMESPACE })
          .catch(ignoreConflict);
    this.budgetsApplied = { names, at: now };
  }

  /** One write at a time: a status write reads the object first and replaces it at that version. */
  private writeStatus(): Promise<void> {
    const write = this.writing.then(() => this.write());
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async write(): Promise<void> {
    const down = this.down;
    const checks: CephCheck[] = [];
    if (down.length > 0) {
      // Ceph's own words (OSDMap.cc: "osds" even for one; one OSD per host here).
      checks.push({ code: 'OSD_DOWN', message: `${down.length} osds down` });
      checks.push({
        code: 'OSD_HOST_DOWN',
        message: `${down.length} host${down.length > 1 ? 's' : ''} (${down.length} osds) down`,
      });
    }
    if (this.noout.size > 0)
      checks.push({
        code: 'OSD_FLAGS',
        message: `${this.noout.size} OSDs or CRUSH {nodes, device-classes} have {NOOUT} flags set`,
      });
    if (!this.clean) {
      const degraded = Math.max(1, Math.round((OBJECTS * Math.max(1, down.length)) / this.hosts.length));
      const pgs = Math.round(PGS / this.hosts.length);
      checks.push({
        code: 'PG_DEGRADED',
        message: `Degraded data redundancy: ${degraded}/${OBJECTS * 3} objects degraded (${((100 * degraded) / (OBJECTS * 3)).toFixed(3)}%), ${pgs} pgs degraded`,
      });
    }
    if (this.lab.activeFault('ceph-warn')) checks.push(NEARFULL);
    const status = cephStatus(checks, this.lastHealth);
    this.lastHealth = (status.ceph as { health: string }).health;
    const cluster = await writeAddonStatus(
      this.custom,
      ADDON_CRDS.cephCluster,
      ROOK_NAMESPACE,
      'rook-ceph',
      status,
    );
    const spec = cluster.spec as { disruptionManagement?: { managePodBudgets?: boolean } } | undefined;
    this.managesBudgets = spec?.disruptionManagement?.managePodBudgets === true;
  }
}

/** The `ceph-warn` fault's check: one that does not clear by itself (Ceph's OSD_NEARFULL). */
export const NEARFULL: CephCheck = { code: 'OSD_NEARFULL', message: '1 nearfull osd(s)' };

function ignoreConflict(error: unknown): void {
  const code = (error as { code?: number }).code;
  if (code !== 409 && code !== 404) throw error;
}
