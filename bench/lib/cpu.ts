import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc's CPU times (USER_HZ): 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

interface ProcessCpu {
  pid: number;
  ppid: number;
  /** Its own CPU time, in ticks. */
  own: number;
  /** CPU time of its children that have exited and been waited for (talosctl calls, say). */
  reaped: number;
}

async function processes(): Promise<ProcessCpu[]> {
  const found: ProcessCpu[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    // The command (field 2) may hold spaces and parentheses: the fields after its last ')' start
    // at field 3 (state), so ppid is [1] and utime, stime, cutime, cstime are [11]..[14].
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    found.push({
      pid: Number(name),
      ppid: f[1] ?? 0,
      own: (f[11] ?? 0) + (f[12] ?? 0),
      reaped: (f[13] ?? 0) + (f[14] ?? 0),
    });
  }
  return found;
}

export interface TreeCpu {
  /** The root process's own CPU seconds. */
  own: number;
  /** Its descendants', living and exited, in CPU seconds. */
  descendants: number;
}

/**
 * CPU seconds used so far by each named process tree: where a run's time goes, measured from the
 * outside (worker, dev server, lab). Take it before and after and subtract.
 */
export async function treeCpu(roots: Record<string, number>): Promise<Record<string, TreeCpu>> {
  const all = await processes();
  const children = new Map<number, ProcessCpu[]>();
  for (const p of all) {
    const siblings = children.get(p.ppid);
    if (siblings) siblings.push(p);
    else children.set(p.ppid, [p]);
  }
  const result: Record<string, TreeCpu> = {};
  for (const [name, pid] of Object.entries(roots)) {
    const root = all.find((p) => p.pid === pid);
    let descendants = root?.reaped ?? 0;
    const queue = [...(children.get(pid) ?? [])];
    for (let p = queue.pop(); p; p = queue.pop()) {
      descendants += p.own + p.reaped;
      queue.push(...(children.get(p.pid) ?? []));
    }
    result[name] = { own: (root?.own ?? 0) / TICKS_PER_SECOND, descendants: descendants / TICKS_PER_SECOND };
  }
  return result;
}

/** after − before, per tree. */
export function cpuSince(
  before: Record<string, TreeCpu>,
  after: Record<string, TreeCpu>,
): Record<string, TreeCpu> {
  return Object.fromEntries(
    Object.entries(after).map(([name, a]) => [
      name,
      {
        own: a.own - (before[name]?.own ?? 0),
        descendants: a.descendants - (before[name]?.descendants ?? 0),
      },
    ]),
  );
}

/** CPU seconds the whole machine has been busy (all cores, /proc/stat): the rest is everything else. */
export async function machineBusySeconds(): Promise<number> {
  const [cpu] = (await readFile('/proc/stat', 'utf8')).split('\n');
  // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
  const [user, nice, system, , , irq, softirq, steal] = (cpu ?? '').split(/\s+/).slice(1).map(Number);
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) /
    TICKS_PER_SECOND
  );
}
