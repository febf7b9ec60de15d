import { describe, expect, it } from '@jest/globals';
import { approverRefusal } from '../../src/domain/index.js';

describe('who may approve or reject (policy.approval.approvers)', () => {
  it('anyone when the list is empty, with or without an identity', () => {
    expect(approverRefusal([], undefined)).toBeUndefined();
    expect(approverRefusal(undefined, 'bob@laptop')).toBeUndefined();
  });

  it('a user entry takes any identity of that user; a user@host entry only that identity', () => {
    const approvers = ['alice', 'carol@ops-vm'];
    expect(approverRefusal(approvers, 'alice@laptop')).toBeUndefined();
    expect(approverRefusal(approvers, 'alice')).toBeUndefined();
    expect(approverRefusal(approvers, 'carol@ops-vm')).toBeUndefined();
    expect(approverRefusal(approvers, 'carol@laptop')).toBe(
      "carol@laptop may not approve or reject this cluster's runs: policy.approval.approvers names alice, carol@ops-vm",
    );
    expect(approverRefusal(approvers, 'alicea@laptop')).toMatch(/^alicea@laptop may not/);
  });

  it('an answer without an identity is refused with how to send one', () => {
    expect(approverRefusal(['alice'], undefined)).toMatch(
      /names no identity: answer with talos-upgrade approve\|reject \(--identity, else your <user>@<host>\)/,
    );
  });
});
