import semver from 'semver';

type Minor = { major: number; minor: number };

/** major.minor of an etcd version ("3.7.1" -> "3.7"), or undefined when it is none. */
function etcdMinor(version: string): Minor | undefined {
  const parsed = semver.coerce(version);
  return parsed ? { major: parsed.major, minor: parsed.minor } : undefined;
}

function above(a: Minor, b: Minor): boolean {
  return a.major > b.major || (a.major === b.major && a.minor > b.minor);
}

export interface EtcdUndoInput {
  cluster: string;
  node: string;
  /** The Talos versions of the hop: the undo boots `from` again. */
  from: string;
  /** pets: the undo reboots the node on its kept etcd data; cattle: its new VM joins as a new member. */
  strategy: 'pets' | 'cattle';
  to: string;
  /** The etcd version the node ran before its upgrade (its `etcd status` PROTOCOL then). */
  before: string;
  /** Each answering member's etcd version now (PROTOCOL), by node. */
  versions: Readonly<Record<string, string>>;
  /** Each answering member's storage version now (STORAGE), by node. */
  storage: Readonly<Record<string, string>>;
  /** How many members etcd lists. */
  members: number;
}

/**
 * Why a controller cannot be rolled back to the etcd it ran before, or undefined. etcd's leader
 * raises the cluster version to the lowest version its members run (every 4 s, once every member
 * answers), and the storage version follows; neither comes down again but by etcd's own downgrade.
 * An older etcd then does not start: on its kept data dir it refuses the newer storage version
 * (schema.Validate, `version "3.7.0" is not supported`), and as a new member (a recreated VM) it
 * panics on the newer cluster version (`invalid downgrade; server version is lower than determined
 * cluster version`). Read in etcd v3.6.12 and v3.7.1: server/storage/schema/schema.go,
 * server/etcdserver/version/monitor.go, server/etcdserver/api/membership/downgrade.go.
 *
 * So the undo of the last controller of a hop that raises etcd's minor (Talos 1.13 -> 1.14: 3.6 ->
 * 3.7) would leave that controller without etcd. It is refused with the steps of the downgrade, which
 * an operator chooses: it is a cluster-wide etcd operation, and keeping the new version may be better.
 */
export function etcdUndoBlocked(input: EtcdUndoInput): string | undefined {
  const before = etcdMinor(input.before);
  if (!before) return undefined;
  const storage = highestStorage(input);
  // Without a STORAGE column (etcd 3.5 members answer none), every member on a newer minor means the
  // leader has raised the cluster version, or is about to.
  const raised = storage ? above(storage, before) : everyMemberAbove(input, before);
  if (!raised) return undefined;
  const target = `${before.major}.${before.minor}`;
  const why =
    `not rolling ${input.node} back to Talos ${input.from}: the etcd it ran there (${input.before}) cannot start on this cluster's data, ` +
    (storage
      ? `whose storage version is ${storage.major}.${storage.minor}.0 now`
      : `whose cluster version is its members' newer one`) +
    ` (etcd refuses a newer storage version, and a new member older than the cluster version). ${input.node} stays as it is (up, on Talos ${input.to}). ` +
    `Keep it there: \`talos-upgrade undo abandon ${input.cluster} --comment "..."\`.`;
  // etcd's downgrade lets an older etcd restart on its data, not join as a new member: during one a
  // new member of the target is refused, and after it the members' newer version is the cluster's again
  // (cluster_util.go isCompatibleWithCluster, version/monitor.go at v3.6.12 and v3.7.1).
  if (input.strategy === 'cattle')
    return `${why} A recreated VM joins etcd as a new member, which etcd refuses at an older version even during its downgrade: the way back is every controller on the older etcd, by hand.`;
  return (
    `${why} Or downgrade etcd's storage first, then retry: \`talosctl -n <controller> etcd downgrade validate ${target}\`, ` +
    `\`talosctl -n <controller> etcd downgrade enable ${target}\`, wait until \`talosctl -n <each controller> etcd status\` shows STORAGE ${target}.0 on every member, ` +
    `\`talos-upgrade undo retry ${input.cluster}\`, and once ${input.node} is back: \`talosctl -n <controller> etcd downgrade cancel\``
  );
}

/**
 * Whether the storage version may still rise above what the node ran before: it does not yet, but every
 * member runs a newer minor. Either etcd's leader has not had its next 4-second round, or an operator's
 * downgrade holds it down: a read some seconds later tells them apart.
 */
export function etcdStorageMayRise(input: EtcdUndoInput): boolean {
  const before = etcdMinor(input.before);
  const storage = highestStorage(input);
  return !!before && !!storage && !above(storage, before) && everyMemberAbove(input, before);
}

function highestStorage(input: EtcdUndoInput): Minor | undefined {
  return Object.values(input.storage)
    .map(etcdMinor)
    .filter((v): v is Minor => v !== undefined)
    .sort((a, b) => (above(a, b) ? -1 : above(b, a) ? 1 : 0))[0];
}

/** Every member answers, each on a newer minor than `before`. */
function everyMemberAbove(input: EtcdUndoInput, before: Minor): boolean {
  const running = Object.values(input.versions).map(etcdMinor);
  return (
    running.length > 0 &&
    running.length === input.members &&
    running.every((v) => v !== undefined && above(v, before))
  );
}
