import type { z } from 'zod';
import { underAddress } from '../terraformPlan.js';
import { configuredByTerraform, machineConfigOf, nodeAddresses, recreatesVms } from './nodeSources.js';
import type { Inventory } from './schema.js';

type Ctx = z.RefinementCtx<Inventory>;

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function inNetwork(ip: string, cidr: string): boolean {
  const [base = '', bitsText = '32'] = cidr.split('/');
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  const start = Math.floor(ipToNumber(base) / size) * size;
  const value = ipToNumber(ip);
  return value >= start && value < start + size;
}

function reportDuplicates<T>(
  ctx: Ctx,
  items: readonly T[],
  key: (item: T) => string | undefined,
  field: string,
  what: string,
) {
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const value = key(item);
    if (value === undefined) return;
    const first = seen.get(value);
    if (first === undefined) seen.set(value, index);
    else
      ctx.addIssue({
        code: 'custom',
        path: ['nodes', index, field],
        message: `${what} "${value}" is also used by nodes[${first}]`,
      });
  });
}

/** Checks that span fields: names and addresses unique, references resolvable, checks that fit the cluster. */
export function crossCheckInventory(inventory: Inventory, ctx: Ctx): void {
  const { nodes, terraform, cluster, policy, images } = inventory;

  reportDuplicates(ctx, nodes, (node) => node.name, 'name', 'node name');
  reportDuplicates(ctx, nodes, (node) => node.ip, 'ip', 'IP address');
  reportDuplicates(ctx, nodes, (node) => node.terraformAddress, 'terraformAddress', 'Terraform address');
  // A recreated VM boots unconfigured: without a config to apply, a cattle run would destroy a node it
  // cannot bring back. Refused here, before any run can start.
  const unconfigured =
    terraform && recreatesVms(inventory) ? nodes.filter((n) => !machineConfigOf(inventory, n)) : [];
  for (const role of new Set(unconfigured.map((n) => n.role)))
    ctx.addIssue({
      code: 'custom',
      path: ['machineConfigs', role],
      message: `required: the policy recreates VMs (cattle) and ${unconfigured
        .filter((n) => n.role === role)
        .map((n) => n.name)
        .join(
          ', ',
        )} would boot with no machine config; name the ${role} config file here (or a node's own machineConfig), or set policy.strategy to pets for every release`,
    });
  // `terraform` as a config source needs the Terraform that configures: a section, and the node's addresses.
  nodes.forEach((node, index) => {
    if (!configuredByTerraform(inventory, node) || (terraform && nodeAddresses(node).length > 0)) return;
    ctx.addIssue({
      code: 'custom',
      path: node.machineConfig ? ['nodes', index, 'machineConfig'] : ['machineConfigs', node.role],
      message: `"terraform" says the node's Terraform apply configures its new VM, but ${
        terraform ? `${node.name} names no terraformAddress(es)` : 'the inventory has no terraform section'
      }: name the node's VM and its talos_machine_configuration_apply, or a machine config file`,
    });
  });
  // No node's address may cover another's (module.nodes covers module.nodes["k8s-work-1"]): a rebuild
  // of the one would destroy the other with it.
  nodes.forEach((node, index) => {
    for (const address of nodeAddresses(node)) {
      const covered = nodes.flatMap((other) =>
        other === node
          ? []
          : nodeAddresses(other)
              .filter((theirs) => theirs !== address && underAddress(theirs, address))
              .map((theirs) => ({ other: other.name, theirs })),
      );
      const first = covered[0];
      if (first)
        ctx.addIssue({
          code: 'custom',
          path: ['nodes', index, node.terraformAddresses ? 'terraformAddresses' : 'terraformAddress'],
          message: `"${address}" also covers ${first.other}'s "${first.theirs}"${covered.length > 1 ? ` (and ${covered.length - 1} more)` : ''}: a rebuild of ${node.name} would destroy ${first.other} too; name ${node.name}'s own instance`,
        });
    }
  });
  // Several addresses per node: none may be another node's (single ones are checked just above).
  const addressesSeen = new Map<string, { node: string; several: boolean }>();
  nodes.forEach((node, index) => {
    for (const address of nodeAddresses(node)) {
      const other = addressesSeen.get(address);
      if (other && (other.several || node.terraformAddresses))
        ctx.addIssue({
          code: 'custom',
          path: ['nodes', index, node.terraformAddresses ? 'terraformAddresses' : 'terraformAddress'],
          message: `Terraform address "${address}" is also ${other.node}'s`,
        });
      addressesSeen.set(address, { node: node.name, several: node.terraformAddresses !== undefined });
    }
  });

  if (!nodes.some((node) => node.role === 'controlplane')) {
    ctx.addIssue({
      code: 'custom',
      path: ['nodes'],
      message: 'a cluster needs at least one controlplane node',
    });
  }
  if (nodes.some((node) => node.role === 'worker') && !images.schematics.worker) {
    ctx.addIssue({
      code: 'custom',
      path: ['images', 'schematics', 'worker'],
      message: 'required: the cluster has worker nodes',
    });
  }

  nodes.forEach((node, index) => {
    if (cluster.network && !inNetwork(node.ip, cluster.network)) {
      ctx.addIssue({
        code: 'custom',
        path: ['nodes', index, 'ip'],
        message: `${node.ip} is outside cluster.network ${cluster.network}`,
      });
    }
    if (terraform && !node.terraformAddress && !node.terraformAddresses) {
      ctx.addIssue({
        code: 'custom',
        path: ['nodes', index, 'terraformAddress'],
        message: 'required when the inventory has a terraform section, e.g. module.nodes["<node>"]',
      });
    }
    if (node.terraformAddress && node.terraformAddresses) {
      ctx.addIssue({
        code: 'custom',
        path: ['nodes', index, 'terraformAddresses'],
        message: 'give terraformAddress (one) or terraformAddresses (several), not both',
      });
    }

    const nicNames = new Set<string>();
    node.nics.forEach((nic, nicIndex) => {
      if (nicNames.has(nic.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['nodes', index, 'nics', nicIndex, 'name'],
          message: `NIC "${nic.name}" is listed twice`,
        });
      }
      nicNames.add(nic.name);
    });
  });

  const checks = new Set(policy.healthChecks);
  const healthCheckIndex = (name: string) => policy.healthChecks.findIndex((check) => check === name);
  if (checks.has('flux') && cluster.gitops !== 'flux') {
    ctx.addIssue({
      code: 'custom',
      path: ['policy', 'healthChecks', healthCheckIndex('flux')],
      message: `the flux check needs cluster.gitops: flux (it is ${cluster.gitops})`,
    });
  }
  if (checks.has('argocd') && cluster.gitops !== 'argocd') {
    ctx.addIssue({
      code: 'custom',
      path: ['policy', 'healthChecks', healthCheckIndex('argocd')],
      message: `the argocd check needs cluster.gitops: argocd (it is ${cluster.gitops})`,
    });
  }
  if (checks.has('ceph') && cluster.storage === 'none') {
    ctx.addIssue({
      code: 'custom',
      path: ['policy', 'healthChecks', healthCheckIndex('ceph')],
      message: 'the ceph check needs cluster.storage: rook-ceph or external-ceph',
    });
  }
  if (checks.has('gpu') && !nodes.some((node) => node.gpu)) {
    ctx.addIssue({
      code: 'custom',
      path: ['policy', 'healthChecks', healthCheckIndex('gpu')],
      message: 'the gpu check needs at least one node with a gpu section',
    });
  }
}
