import { describe, expect, it } from '@jest/globals';
import { etcdStorageMayRise, etcdUndoBlocked, type EtcdUndoInput } from '../../src/domain/index.js';

const hop: Omit<EtcdUndoInput, 'versions' | 'storage' | 'members'> = {
  cluster: 'atlas',
  node: 'talos-cp-3',
  from: '1.13.8',
  to: '1.14.1',
  strategy: 'pets',
  before: '3.6.12',
};

describe('etcdUndoBlocked: a controller rolled back onto a newer etcd storage version', () => {
  it('lets the first controllers of a 1.13 -> 1.14 hop go back: the cluster still runs 3.6', () => {
    expect(
      etcdUndoBlocked({
        ...hop,
        node: 'talos-cp-1',
        versions: { 'talos-cp-1': '3.7.1', 'talos-cp-2': '3.6.12', 'talos-cp-3': '3.6.12' },
        storage: { 'talos-cp-1': '3.6.0', 'talos-cp-2': '3.6.0', 'talos-cp-3': '3.6.0' },
        members: 3,
      }),
    ).toBeUndefined();
  });

  it('refuses the last one once the storage version is 3.7, with the downgrade steps', () => {
    const why = etcdUndoBlocked({
      ...hop,
      versions: { 'talos-cp-1': '3.7.1', 'talos-cp-2': '3.7.1', 'talos-cp-3': '3.7.1' },
      storage: { 'talos-cp-1': '3.7.0', 'talos-cp-2': '3.7.0', 'talos-cp-3': '3.7.0' },
      members: 3,
    });
    expect(why).toMatch(
      /^not rolling talos-cp-3 back to Talos 1\.13\.8: .*\(3\.6\.12\).*storage version is 3\.7\.0 now/,
    );
    expect(why).toContain('etcd downgrade validate 3.6');
    expect(why).toContain('etcd downgrade enable 3.6');
    expect(why).toContain('STORAGE 3.6.0 on every member');
    expect(why).toContain('talos-upgrade undo retry atlas');
    expect(why).toContain('etcd downgrade cancel');
    // A recreated VM's new member cannot come back through a downgrade: keep it, say why.
    const cattle = etcdUndoBlocked({
      ...hop,
      strategy: 'cattle',
      versions: { 'talos-cp-1': '3.7.1', 'talos-cp-2': '3.7.1', 'talos-cp-3': '3.7.1' },
      storage: { 'talos-cp-1': '3.7.0', 'talos-cp-2': '3.7.0', 'talos-cp-3': '3.7.0' },
      members: 3,
    });
    expect(cattle).toMatch(/undo abandon atlas.*joins etcd as a new member/);
    expect(cattle).not.toContain('downgrade enable');
  });

  it('lets it go while the storage is still 3.6 (a downgrade holds it, or the leader raises it soon: read again)', () => {
    const held = {
      ...hop,
      versions: { 'talos-cp-1': '3.7.1', 'talos-cp-2': '3.7.1', 'talos-cp-3': '3.7.1' },
      storage: { 'talos-cp-1': '3.6.0', 'talos-cp-2': '3.6.0', 'talos-cp-3': '3.6.0' },
      members: 3,
    };
    expect(etcdUndoBlocked(held)).toBeUndefined();
    expect(etcdStorageMayRise(held)).toBe(true);
    // Raised: blocked, and nothing left to wait for.
    const raised = {
      ...held,
      storage: { 'talos-cp-1': '3.7.0', 'talos-cp-2': '3.7.0', 'talos-cp-3': '3.7.0' },
    };
    expect(etcdStorageMayRise(raised)).toBe(false);
    // etcd 3.5 members answer no STORAGE: every member on a newer minor is a raised cluster version.
    expect(
      etcdUndoBlocked({
        ...held,
        before: '3.5.21',
        storage: {},
        versions: { a: '3.6.5', b: '3.6.5', c: '3.6.5' },
      }),
    ).toMatch(/whose cluster version is its members' newer one/);
  });

  it('goes back when a member does not answer (it holds the cluster version) or the minor did not change', () => {
    const silent = {
      ...hop,
      versions: { 'talos-cp-1': '3.7.1', 'talos-cp-2': '3.7.1' },
      storage: { 'talos-cp-1': '3.6.0', 'talos-cp-2': '3.6.0' },
      members: 3,
    };
    expect(etcdUndoBlocked(silent)).toBeUndefined();
    const samePatchLine = {
      ...hop,
      from: '1.11.3',
      to: '1.12.9',
      before: '3.6.5',
      versions: { 'talos-cp-1': '3.6.11', 'talos-cp-2': '3.6.11', 'talos-cp-3': '3.6.11' },
      storage: { 'talos-cp-1': '3.6.0', 'talos-cp-2': '3.6.0', 'talos-cp-3': '3.6.0' },
      members: 3,
    };
    expect(etcdUndoBlocked(samePatchLine)).toBeUndefined();
  });
});
