import { describe, expect, it } from '@jest/globals';
import { classifyUpgradeFailure, etcdReadError } from '../../src/activities/talos.js';
import {
  installerWords,
  isMaintenanceRefusal,
  pullGaveUp,
  rebootFailure,
} from '../../src/activities/talosctl.js';

// stderr of the real talosctl `upgrade --wait` against the lab Talos API: timeout and quorum recorded with
// v1.12.6, image with v1.13.8 (which first says it falls back to the legacy API for a node before 1.13);
// twoMembers, laterError, registryDown, imageSet and budgetSpent composed in the same format from Talos's messages.
const RECORDED = {
  timeout: `"127.178.249.13": phase: stopEverything action: START
"127.178.249.13": task: stopAllServices action: START
"127.178.249.13": error: stopAllServices task completed
"127.178.249.13": unavailable, retrying...
"127.178.249.13": unavailable, retrying...
`,
  image: `New upgrade API is not available, falling back to legacy
WARNING: 127.171.84.16: server version 1.11.3 is older than client version 1.13.8
"127.171.84.16": waiting for actor ID
"127.171.84.16": rpc error: code = Unknown desc = error validating installer image "127.0.0.1:41039/installer/990731763242a6b3cf735e49d0f550ce4068b4d0e7f4dfbb49a31799b698877e:v1.11.9": failed to resolve reference "127.0.0.1:41039/installer/990731763242a6b3cf735e49d0f550ce4068b4d0e7f4dfbb49a31799b698877e:v1.11.9": 127.0.0.1:41039/installer/990731763242a6b3cf735e49d0f550ce4068b4d0e7f4dfbb49a31799b698877e:v1.11.9: not found
`,
  // talosctl 1.13.8's --timeout met while the legacy call had not answered (the lab's registry-down on
  // the node, recorded 2026-11-30): Talos was still pulling, and the client prints nothing more.
  unanswered: `New upgrade API is not available, falling back to legacy
WARNING: 127.248.132.14: server version 1.11.3 is older than client version 1.13.8
"127.248.132.14": waiting for actor ID
`,
  // talosctl 1.14.1's last lines when the 1.14.1 installer refuses a 1.11.3 host in the legacy upgrade
  // sequence (recorded 2026-12-01 in the lab): the sequence failed after the services stopped.
  sequence: `"127.175.71.14": phase: upgrade action: STOP
"127.175.71.14": sequence: upgrade action: STOP
"127.175.71.14": sequence: upgrade action: NOOP error: [code: FATAL message: sequence failed: error running phase 9 in upgrade sequence: task 1/1: failed, task "upgrade" failed: exit code 4]
"127.175.71.14": error: sequence error: sequence failed: error running phase 9 in upgrade sequence: task 1/1: failed, task "upgrade" failed: exit code 4
"127.175.71.14": 1 error(s) occurred:
	sequence error: sequence failed: error running phase 9 in upgrade sequence: task 1/1: failed, task "upgrade" failed: exit code 4
`,
  // A wait that ran out on the new client: the fallback notice may be all there is.
  fallbackOnly: `New upgrade API is not available, falling back to legacy
`,
  quorum: `WARNING: 127.178.249.11: server version 1.11.3 is older than client version 1.12.6
"127.178.249.11": waiting for actor ID
"127.178.249.11": rpc error: code = Unknown desc = error validating etcd for upgrade: etcd member 5b8c17a716cf9838 is not healthy; all members must be healthy to perform an upgrade: context deadline exceeded
`,
  twoMembers: `"127.1.2.11": rpc error: code = Unknown desc = error validating etcd for upgrade: etcd member count(2) is insufficient to maintain quorum if upgrade commences
`,
  // A wait that ran out: the client drops its final line, so nothing may follow the progress at all.
  silent: '',
  // A reboot's progress, then a real error: the error decides, not the reboot's "unavailable".
  laterError: `"127.1.2.15": task: stopAllServices action: START
"127.1.2.15": unavailable, retrying...
"127.1.2.15": rpc error: code = PermissionDenied desc = not authorized
`,
  // The registry did not answer: retried, unlike an installer that does not exist.
  registryDown: `"127.1.2.15": rpc error: code = Unknown desc = error validating installer image "r/i:v1.11.4": failed to do request: dial tcp 127.0.0.1:5000: connect: connection refused
`,
  // As Talos 1.11-1.13 report a pull once its retries end (go-retry's error set, one error a line).
  imageSet: `"127.1.2.15": rpc error: code = Unknown desc = error validating installer image "r/i:v1.11.9": 1 error(s) occurred:
	failed to pull image "r/i:v1.11.9": failed to resolve reference "r/i:v1.11.9": r/i:v1.11.9: not found
`,
  // Talos's whole pull budget spent on a registry that answered 503: final, another try waits as long.
  budgetSpent: `"127.1.2.15": rpc error: code = Unknown desc = error validating installer image "r/i:v1.11.4": 2 error(s) occurred:
	failed to pull image "r/i:v1.11.4": failed to resolve reference "r/i:v1.11.4": unexpected status from HEAD request to http://r/v2/i/manifests/v1.11.4: 503 Service Unavailable
	timeout
`,
};

describe('classifying a failed talosctl upgrade --wait by what the real client prints', () => {
  it.each([
    ['timeout', 'unavailable'],
    ['silent', 'unavailable'],
    ['fallbackOnly', 'unavailable'],
    ['image', 'image'],
    ['quorum', 'quorum'],
    ['twoMembers', 'quorum'],
    ['laterError', 'other'],
    ['registryDown', 'unavailable'],
    ['imageSet', 'image'],
    ['budgetSpent', 'registry'],
    ['unanswered', 'unanswered'],
    ['sequence', 'sequence'],
  ] as const)('%s -> %s', (sample, expected) => {
    expect(classifyUpgradeFailure(RECORDED[sample])).toBe(expected);
  });

  it("names the errors of a pull whose budget ran out, and only of one: a NotFound's set is not", () => {
    expect(pullGaveUp(RECORDED.budgetSpent)).toBe(
      'failed to pull image "r/i:v1.11.4": failed to resolve reference "r/i:v1.11.4": unexpected status from HEAD request to http://r/v2/i/manifests/v1.11.4: 503 Service Unavailable',
    );
    expect(pullGaveUp(RECORDED.imageSet)).toBeUndefined();
    expect(pullGaveUp(RECORDED.timeout)).toBeUndefined();
  });
});

// stderr of the real `talosctl -n <worker> etcd status` against the lab (recorded 2026-11-30): 1.13.8 prints
// apid's multierror, 1.14.1 one `error from node` line per node it asked (cmd/talosctl/cmd/talos/etcd.go).
const ETCD_STATUS_ON_A_WORKER = {
  'v1.13.8': `error getting status: 1 error occurred:
\t* 127.201.243.14: rpc error: code = Unimplemented desc = etcd status is only available on control plane nodes

`,
  'v1.14.1': `error from node 127.201.243.14: rpc error: code = Unimplemented desc = etcd status is only available on control plane nodes
`,
};

describe("a node's own etcd read error, in each client's shape", () => {
  it.each(Object.entries(ETCD_STATUS_ON_A_WORKER))('talosctl %s', (_client, stderr) => {
    const result = { exitCode: 1, stdout: '', stderr, durationMs: 50, timedOut: false };
    expect(etcdReadError(result)).toBe(
      'rpc error: code = Unimplemented desc = etcd status is only available on control plane nodes',
    );
  });
});

// stderr of the real talosctl 1.14.1 `get machinestatus --insecure` (recorded 2026-11-30 in the lab): a new VM at
// 1.12.0 in maintenance mode refuses the Version asked first; a foreign machine fails the handshake instead.
describe("a 1.11/1.12 node's maintenance answer to talosctl 1.14", () => {
  const result = (stderr: string) => ({ exitCode: 1, stdout: '', stderr, durationMs: 40, timedOut: false });
  it('is the Version refusal of its maintenance server, and nothing else', () => {
    expect(
      isMaintenanceRefusal(
        result(
          '127.160.192.19: error getting server version: rpc error: code = Unimplemented desc = API is not implemented in maintenance mode\n',
        ),
      ),
    ).toBe(true);
    expect(
      isMaintenanceRefusal(
        result(
          '127.121.185.20: error getting server version: rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"\n',
        ),
      ),
    ).toBe(false);
  });
});

// stderr of the real talosctl 1.14.1 `upgrade --no-reboot` whose installer refuses the host (recorded
// 2026-12-01 in the lab): a 1.14 node streams the installer's output a line per message, each with the
// node's prefix; a 1.13 node streams 512-byte chunks, so only a chunk's first line has it.
describe("the installer's own reason for failing, in each server's stream", () => {
  it('is its last line, without the node or a log time', () => {
    const lines = [
      '127.166.94.14: pulled image 127.0.0.1:44473/installer/4a0d65c669d46663f377e7161e50cfd570c401f26fd9e7bda34a0216b6f1922b:v1.11.3@sha256:8c1be8dffbf8e8a5f529299737dece80cb84b76967afc17623cc7ff897465f36',
      '127.166.94.14: 2026/12/01 01:12:26 running Talos installer v1.11.3',
      '127.166.94.14: 2026/12/01 01:12:26 running pre-flight checks',
      '127.166.94.14: 2026/12/01 01:12:26 host Talos version: v1.14.1',
      '127.166.94.14: pre-flight checks failed: host version 1.14.1 is too new to downgrade to Talos 1.11.3',
      '127.166.94.14: Exit code: 1',
      '127.166.94.14: upgrade failed with exit code 1',
      'error during upgrade: node 127.166.94.14: upgrade failed with exit code 1',
    ];
    expect(installerWords(lines.join('\n') + '\n')).toBe(
      'pre-flight checks failed: host version 1.14.1 is too new to downgrade to Talos 1.11.3',
    );
    const chunked = [
      '127.115.182.14: 2026/12/01 01:11:15 running Talos installer v1.11.3',
      '2026/12/01 01:11:15 running pre-flight checks',
      '2026/12/01 01:11:15 host Talos version: v1.13.8',
      'pre-flight checks failed: host version 1.13.8 is too new to downgrade to Talos 1.11.3',
      '127.115.182.14: Exit code: 1',
      '127.115.182.14: upgrade failed with exit code 1',
    ];
    expect(installerWords(chunked.join('\n'))).toBe(
      'pre-flight checks failed: host version 1.13.8 is too new to downgrade to Talos 1.11.3',
    );
    expect(
      installerWords('error during upgrade: rpc error: code = Unavailable desc = EOF\n'),
    ).toBeUndefined();
  });
});

describe('rebootFailure: the wait for a reboot', () => {
  const failed = (stderr: string) => ({ exitCode: 1, stdout: '', stderr, durationMs: 1, timedOut: false });
  const thrown = (stderr: string) => {
    try {
      rebootFailure('rebooting talos-cp-1 into 1.14.1', failed(stderr));
    } catch (error) {
      return error as { type?: string; nonRetryable?: boolean; message: string };
    }
    throw new Error('rebootFailure returned');
  };

  it('retries a PermissionDenied (gRPC status words; the lab does not play the 1.14 window)', () => {
    const denied = thrown(
      'error from node 127.0.0.1: rpc error: code = PermissionDenied desc = not authorized\n',
    );
    expect(denied).toMatchObject({ type: 'TalosUnavailable', nonRetryable: false });
    expect(denied.message).toMatch(/denied the wait .*retrying .*os:admin role/);
  });

  it('fails any other refusal for good, as talosFailure does', () => {
    expect(
      thrown('error: rpc error: code = FailedPrecondition desc = reboot is not allowed\n'),
    ).toMatchObject({
      type: 'CommandFailed',
      nonRetryable: true,
    });
  });
});
