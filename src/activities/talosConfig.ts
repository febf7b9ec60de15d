import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import {
  CONFIG_APPLY_TYPE,
  configuredByTerraform,
  configVlans,
  describeUndefinedVlans,
  describeUnknownDocuments,
  documentsUnknownTo,
  expectedKernelArgs,
  FAILURE,
  kernelArgVlans,
  machineConfigOf,
  undefinedVlans,
  type ConfigVlan,
  type InventoryNode,
} from '../domain/index.js';
import { currentActivity, heartbeat, sleep } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, tail } from './errors.js';
import { withPlainMachineConfig } from './machineConfigFile.js';
import { runCommand, type CommandResult } from './runCommand.js';
import {
  isMaintenanceRefusal,
  isUnavailable,
  parseMachineStage,
  rebootFailure,
  talosctl,
  talosctlDuration,
  talosFailure,
} from './talosctl.js';
import { reportedBootId } from './kubernetes.js';
import { filesNotOnNode, filesOfPatches, writesFilesOnlyAtBoot } from './patchFiles.js';

type VlanGap = Parameters<typeof describeUndefinedVlans>[0][number];

/** A YAML file's documents (none for a text that is not YAML: what reads it says so itself). */
export function documentsIn(text: string): unknown[] {
  try {
    return parseAllDocuments(text).map((doc) => doc.toJS() as unknown);
  } catch {
    return [];
  }
}

/** The VLANs a YAML file's documents define (a text that is not YAML defines none). */
export function vlansIn(text: string): ConfigVlan[] {
  return configVlans(documentsIn(text));
}

/**
 * Why Talos `version` could not read a config (or a patch that adds documents): the kinds it
 * predates, with the fix. Undefined when it can read them all.
 */
export function unreadableDocuments(what: string, text: string, version: string): string | undefined {
  const unknown = documentsUnknownTo(version, documentsIn(text));
  const [first] = unknown;
  if (!first) return undefined;
  return `${what} holds documents Talos ${version} cannot read: ${describeUnknownDocuments(unknown)}. Talos ${version} refuses the whole config ("${first.kind}" "${first.apiVersion}": not registered), and a rebuilt VM would find that out only after the old one was destroyed. Write it in the form Talos ${version} knows (for a VLAN: machine.network.interfaces[].vlans), or apply it yourself once the nodes run Talos ${first.since} or later`;
}

/**
 * What configures a node: its machine config sent to a VM just created (only to one that answers as a
 * Talos node in maintenance mode), the config proven before any VM is destroyed, and the inventory's
 * patches applied so that no reboot happens behind the run's back.
 */
export function talosConfigActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  /**
   * `get machinestatus --insecure`, as a VM waiting for its config answers it. A connection the server
   * took and then dropped in its TLS handshake (it asked for a client certificate: a broken pipe, a
   * reset, "certificate required") is an answer from something that is not such a VM; read three
   * times 2 s apart, it is final. Nothing listening yet (refused, timed out) is retried by Temporal.
   * A 1.11 or 1.12 node refuses the Version that talosctl 1.14 asks first (isMaintenanceRefusal).
   */
  async function readMaintenanceStatus(c: ClusterHandle, node: InventoryNode): Promise<CommandResult> {
    let result: CommandResult | undefined;
    for (let read = 1; read <= 3; read++) {
      result = await talosctl(deps, c, ['-n', node.ip, 'get', 'machinestatus', '--insecure', '-o', 'json'], {
        timeoutMs: 30_000,
      });
      if (result.exitCode === 0) return result;
      const refusedHandshake = /tls: |x509: |certificate|broken pipe|connection reset|EOF/.test(
        result.stderr,
      );
      if (!refusedHandshake && isUnavailable(result))
        talosFailure(`reading the maintenance status of ${node.name}`, result);
      if (!refusedHandshake) return result;
      if (read < 3) await sleep(2000);
    }
    return result as CommandResult;
  }

  async function applyMachineConfig(input: {
    cluster: string;
    node: string;
  }): Promise<{ applied: boolean; reason: string }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    // The same targeted apply that created the VM configured it; waiting for Ready tells it came up.
    if (configuredByTerraform(c.inventory, node))
      return {
        applied: false,
        reason: `${node.name} is configured by Terraform (its ${CONFIG_APPLY_TYPE}, applied with its VM)`,
      };
    const file = machineConfigOf(c.inventory, node);
    if (!file)
      throw nonRetryable(
        'ValidationFailed',
        `cluster ${c.name} has no machineConfigs.${node.role} in its inventory: a recreated ${node.name} cannot be configured`,
      );
    // Asked with the cluster's certificates: a configured node answers; a node in maintenance mode
    // has no certificate from the cluster's CA yet.
    const status = await talosctl(deps, c, ['-n', node.ip, 'get', 'machinestatus', '-o', 'json'], {
      timeoutMs: 30_000,
    });
    const stage = parseMachineStage(status.stdout);
    if (status.exitCode === 0 && stage && stage !== 'maintenance')
      return {
        applied: false,
        reason: `${node.name} answered with the cluster's certificates (stage ${stage})`,
      };
    if (status.exitCode === 0 && !stage)
      throw nonRetryable(
        'CommandFailed',
        `talosctl get machinestatus on ${node.name} answered without a stage: ${tail(status.stdout, 3)}`,
      );
    if (status.exitCode !== 0 && !/certificate signed by unknown authority/.test(status.stderr))
      talosFailure(`reading the machine status of ${node.name}`, status);
    // The machine config carries the cluster's secrets. A certificate the cluster's CA did not sign
    // says only that this is not a configured node of the cluster: the config goes to it only when it
    // answers the insecure maintenance API as a Talos node in stage maintenance (the VM just created).
    const insecure = await readMaintenanceStatus(c, node);
    const maintenance =
      insecure.exitCode === 0
        ? parseMachineStage(insecure.stdout)
        : isMaintenanceRefusal(insecure)
          ? 'maintenance'
          : undefined;
    if (maintenance !== 'maintenance')
      throw nonRetryable(
        FAILURE.ValidationFailed,
        `${node.name} (${node.ip}) answered with a certificate the cluster's CA did not sign, and not as a Talos node in maintenance mode (${maintenance ? `stage ${maintenance}` : tail(insecure.stderr || insecure.stdout, 2)}): its machine config holds the cluster's secrets and was not sent. Check what answers at ${node.ip} (another machine on that address?)`,
      );
    heartbeat({ node: node.name, step: 'applying the machine config to a node in maintenance mode' });
    const result = await withPlainMachineConfig(deps, c.inventory, c.resolvePath(file), (plain) =>
      talosctl(deps, c, ['-n', node.ip, 'apply-config', '--insecure', '-f', plain], { timeoutMs: 120_000 }),
    );
    if (result.exitCode !== 0) talosFailure(`applying the machine config to ${node.name}`, result);
    return {
      applied: true,
      reason: `${node.name} answered the insecure maintenance API in stage maintenance, and no certificate of the cluster`,
    };
  }

  /**
   * Pre-flight for a rebuild: each node's machine config file (its own, else its role's) exists, decrypts
   * when it is SOPS-encrypted, and is a config Talos accepts for a metal install (`talosctl validate --mode metal`);
   * neither it nor the inventory's patches hold a document kind `version` predates; so a VM is never
   * destroyed for a config that would be refused after it. Files are checked once each.
   */
  async function proveMachineConfigs(input: {
    cluster: string;
    nodes: string[];
    /** The oldest Talos a rebuilt VM boots (an undo's too): what must read the configs and patches. */
    version?: string;
  }): Promise<{ files: Array<{ file: string; nodes: string[] }> }> {
    const c = cluster(input.cluster);
    const byFile = new Map<string, string[]>();
    for (const name of input.nodes) {
      const node = c.node(name);
      // Proven with its Terraform plan instead (proveNodeRebuilds: a config apply under its addresses).
      if (configuredByTerraform(c.inventory, node)) continue;
      const file = machineConfigOf(c.inventory, node);
      if (!file)
        throw nonRetryable(
          FAILURE.ValidationFailed,
          `${name} has no machine config (machineConfigs.${node.role} or its own machineConfig): a recreated VM could not be configured, so none is destroyed`,
        );
      byFile.set(file, [...(byFile.get(file) ?? []), name]);
    }
    const gaps: VlanGap[] = [];
    for (const [file, nodes] of byFile) {
      const path = c.resolvePath(file);
      heartbeat({ step: `validating the machine config ${file}` });
      // A local check: talosctl validate takes no talosconfig (and refuses the flag). An encrypted file
      // is decrypted here too, so a missing age key is found before any VM is destroyed.
      const result = await withPlainMachineConfig(deps, c.inventory, path, async (plain) => {
        const validated = await runCommand(
          deps.talosctl,
          ['validate', '--mode', 'metal', '--config', plain],
          {
            timeoutMs: 30_000,
          },
        );
        if (validated.exitCode !== 0) return validated;
        const { version } = input;
        const unreadable = version
          ? (unreadableDocuments(
              `the machine config ${path} of ${nodes.join(', ')}`,
              await readFile(plain, 'utf8'),
              version,
            ) ?? (await unreadablePatches(c, nodes, version)))
          : undefined;
        if (unreadable)
          throw nonRetryable(FAILURE.ValidationFailed, `${unreadable}. No VM is destroyed until then`);
        gaps.push(...(await vlanGaps(c, file, plain, nodes)));
        return validated;
      });
      if (result.exitCode !== 0)
        throw nonRetryable(
          FAILURE.ValidationFailed,
          `the machine config ${path} of ${nodes.join(', ')} is not valid (talosctl validate --mode metal): ${tail(result.stderr || result.stdout, 3)}. No VM is destroyed until it is`,
        );
    }
    if (gaps.length) throw nonRetryable(FAILURE.ValidationFailed, describeUndefinedVlans(gaps), { gaps });
    return { files: [...byFile].map(([file, nodes]) => ({ file, nodes })) };
  }

  /** The first of the nodes' patches (global, then GPU) that adds a document Talos `version` cannot read. */
  async function unreadablePatches(
    c: ClusterHandle,
    names: string[],
    version: string,
  ): Promise<string | undefined> {
    const patches = new Map<string, string[]>();
    for (const name of names)
      for (const patch of [...c.inventory.policy.globalPatches, ...(c.node(name).gpu?.patches ?? [])])
        patches.set(patch, [...(patches.get(patch) ?? []), name]);
    for (const [patch, nodes] of patches) {
      // A patch that cannot be read is vlanGaps' and validateGpuPatches' to refuse, with its own words.
      const text = await readFile(c.resolvePath(patch), 'utf8').catch(() => '');
      const unreadable = unreadableDocuments(`the patch ${patch} of ${nodes.join(', ')}`, text, version);
      if (unreadable) return unreadable;
    }
    return undefined;
  }

  /**
   * The rebuilt nodes of one config file whose VLANs the config they end with does not define: the
   * file with the inventory's patches for the node applied as Talos merges them (`talosctl
   * machineconfig patch`, offline), plus the `vlan=` kernel arguments the node boots with. Talos makes
   * VLAN links only from its configuration, so a VM rebuilt without them comes up without its VLANs.
   * A patch that does not apply is refused here, before any VM is destroyed.
   */
  async function vlanGaps(
    c: ClusterHandle,
    file: string,
    plain: string,
    names: string[],
  ): Promise<VlanGap[]> {
    // Nodes that take the same patches share one merge.
    const byPatches = new Map<string, { patches: string[]; nodes: InventoryNode[] }>();
    for (const name of names) {
      const node = c.node(name);
      if (node.nics.every((nic) => nic.vlan === 'native')) continue;
      const patches = [...c.inventory.policy.globalPatches, ...(node.gpu?.patches ?? [])];
      const key = patches.join('\n');
      const group = byPatches.get(key) ?? { patches, nodes: [] };
      group.nodes.push(node);
      byPatches.set(key, group);
    }
    const gaps: VlanGap[] = [];
    for (const { patches, nodes } of byPatches.values()) {
      const merged = patches.length
        ? await runCommand(
            deps.talosctl,
            ['machineconfig', 'patch', plain, ...patches.flatMap((p) => ['--patch', `@${c.resolvePath(p)}`])],
            // Its output is the merged config, secrets and all: never a line of it in a heartbeat.
            { timeoutMs: 30_000, progress: () => ({ step: `merging the patches into ${file}` }) },
          )
        : { exitCode: 0, stdout: await readFile(plain, 'utf8'), stderr: '' };
      if (merged.exitCode !== 0)
        throw nonRetryable(
          FAILURE.ValidationFailed,
          `the patches ${patches.join(', ')} of ${nodes.map((n) => n.name).join(', ')} do not apply to the machine config ${file} (talosctl machineconfig patch): ${tail(merged.stderr, 3)}. No VM is destroyed until they do`,
        );
      const defined = vlansIn(merged.stdout);
      for (const node of nodes) {
        const missing = undefinedVlans(node.nics, [
          ...defined,
          ...kernelArgVlans(expectedKernelArgs(c.inventory, node)),
        ]);
        if (missing.length) gaps.push({ node: node.name, nics: missing, sources: [file, ...patches] });
      }
    }
    return gaps;
  }

  /**
   * The inventory's global patches, and the node's GPU patches when it has a GPU, applied so that
   * nothing reboots the node behind the run's back: `patch mc --mode auto` (talosctl's default) makes
   * Talos 1.11–1.13 reboot a node by itself when a patch writes what only a boot applies, such as
   * machine.files (CanApplyImmediate in machined's runtime). So each patch goes in live (no-reboot).
   * One that Talos 1.11–1.13 refuse live is staged. Talos 1.14 takes it live, but writes machine.files
   * only at boot and no longer reboots for them: its files are read back, and one not there waits for a
   * boot as well (other fields 1.14 applies only at boot are not detected: see docs/talos-versions.md).
   * The node is then rebooted here once and waited for; on 1.14 its files are read again after it.
   * Every heartbeat from the reboot on carries the boot it rebooted from, so a retry (which patches again)
   * still answers that reboot, and the workflow waits for the node to be Ready after it.
   */
  async function applyPatches(input: {
    cluster: string;
    node: string;
  }): Promise<{ applied: string[]; staged: string[]; rebooted: boolean; bootId?: string }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const files = [...c.inventory.policy.globalPatches, ...(node.gpu?.patches ?? [])];
    // One call for all of them: each `patch mc` starts from the node's active config, so a live patch
    // after a staged one would drop it (and a second staged one replace the first).
    const patches = files.flatMap((file) => ['--patch', `@${c.resolvePath(file)}`]);
    // The boot an earlier attempt rebooted from (Temporal hands its last heartbeat to the retry).
    const earlier = (currentActivity()?.info.heartbeatDetails as { rebootedFrom?: string } | undefined)
      ?.rebootedFrom;
    const details: Record<string, unknown> = {
      node: node.name,
      step: `applying ${files.join(', ')}`,
      ...(earlier ? { rebootedFrom: earlier } : {}),
    };
    const read = { progress: (line: string) => ({ ...details, talosctl: line }) };
    const patch = (mode: string) =>
      talosctl(deps, c, ['-n', node.ip, 'patch', 'mc', '--mode', mode, ...patches], {
        timeoutMs: 120_000,
        ...read,
      });
    const writes = await filesOfPatches(files.map((name) => ({ name, path: c.resolvePath(name) })));
    let staged: string[] = [];
    let bootOnly = false;
    if (files.length > 0) {
      heartbeat(details);
      const live = await patch('no-reboot');
      if (live.exitCode !== 0) {
        if (!/can't be applied in immediate mode/.test(live.stderr))
          talosFailure(`applying ${files.join(', ')} to ${node.name}`, live);
        const later = await patch('staged');
        if (later.exitCode !== 0) talosFailure(`staging ${files.join(', ')} on ${node.name}`, later);
        staged = files;
      } else if (writes.length > 0) {
        bootOnly = await writesFilesOnlyAtBoot(deps, c, node, read);
        const unwritten = bootOnly ? await filesNotOnNode(deps, c, node, writes, read) : [];
        staged = [...new Set(unwritten.map((file) => file.patch))];
      }
    }
    if (staged.length === 0)
      return earlier
        ? { applied: files, staged, rebooted: true, bootId: earlier }
        : { applied: files, staged, rebooted: false };
    // The boot its Node reports before the reboot: Ready again counts only with another one.
    const bootId = await reportedBootId(c, node.name).catch(() => undefined);
    details.step = `rebooting to apply ${staged.join(', ')}`;
    if (bootId) details.rebootedFrom = bootId;
    heartbeat(details);
    const timeout = talosctlDuration(c.inventory.policy.nodeReadyTimeout);
    const result = await talosctl(deps, c, ['-n', node.ip, 'reboot', '--wait', '--timeout', timeout], {
      timeoutMs: c.inventory.policy.nodeReadyTimeout + 60_000,
      ...read,
    });
    if (result.exitCode !== 0) rebootFailure(`rebooting ${node.name} to apply ${staged.join(', ')}`, result);
    const notWritten = bootOnly ? await filesNotOnNode(deps, c, node, writes, read) : [];
    if (notWritten.length > 0)
      throw nonRetryable(
        FAILURE.PatchNotApplied,
        `${node.name} rebooted to apply ${staged.join(', ')} and does not hold ${notWritten.map((f) => f.path).join(', ')} as the patch writes it: read its config (talosctl -n ${node.ip} get mc -o yaml) and the boot's log (talosctl -n ${node.ip} dmesg)`,
      );
    return { applied: files, staged, rebooted: true, ...(bootId ? { bootId } : {}) };
  }

  return { applyMachineConfig, proveMachineConfigs, applyPatches };
}
