import { describe, expect, it } from '@jest/globals';
import { classifyUpgradeFailure } from '../../src/activities/talos.js';

// stderr of the real talosctl v1.12.6 `upgrade --wait`, recorded against the lab Talos API.
const RECORDED = {
  timeout: `"127.178.249.13": phase: stopEverything action: START
"127.178.249.13": task: stopAllServices action: START
"127.178.249.13": error: stopAllServices task completed
"127.178.249.13": unavailable, retrying...
"127.178.249.13": unavailable, retrying...
`,
  image: `WARNING: 127.178.249.13: server version 1.11.4 is older than client version 1.12.6
"127.178.249.13": waiting for actor ID
"127.178.249.13": rpc error: code = Unknown desc = error validating installer image "127.0.0.1:38035/nocloud-installer/4a0d:v1.11.9": failed to resolve reference "127.0.0.1:38035/nocloud-installer/4a0d:v1.11.9": 127.0.0.1:38035/nocloud-installer/4a0d:v1.11.9: not found
`,
  quorum: `WARNING: 127.178.249.11: server version 1.11.3 is older than client version 1.12.6
"127.178.249.11": waiting for actor ID
"127.178.249.11": rpc error: code = Unknown desc = error validating etcd for upgrade: etcd member 5b8c17a716cf9838 is not healthy; all members must be healthy to perform an upgrade: context deadline exceeded
`,
  twoMembers: `"127.1.2.11": rpc error: code = Unknown desc = error validating etcd for upgrade: etcd member count(2) is insufficient to maintain quorum if upgrade commences
`,
  // A wait that ran out: the client drops its final line, so nothing may follow the progress at all.
  silent: '',
};

describe('classifying a failed talosctl upgrade --wait by what the real client prints', () => {
  it.each([
    ['timeout', 'unavailable'],
    ['silent', 'unavailable'],
    ['image', 'image'],
    ['quorum', 'quorum'],
    ['twoMembers', 'quorum'],
  ] as const)('%s -> %s', (sample, expected) => {
    expect(classifyUpgradeFailure(RECORDED[sample])).toBe(expected);
  });

  it('an installer that is missing is not taken for a node that went away', () => {
    expect(classifyUpgradeFailure(RECORDED.image)).not.toBe('unavailable');
  });
});
