import { parse } from 'yaml';
import {
  checkedKernelArgs,
  describeExtensionLosses,
  describeRebuildKernelArgGaps,
  expectedKernelArgs,
  FAILURE,
  imageExtensions,
  lostExtensions,
  rebuildKernelArgGaps,
  schematicOf,
  shortSchematic,
  type ExtensionLoss,
  type ExtensionStatus,
  type InventoryNode,
} from '../domain/index.js';
import { boundedSignal, heartbeatWhile } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable } from './errors.js';
import { parseJsonStream } from './jsonStream.js';
import { baseUrl } from './registry.js';
import { isUnavailable, talosctl, talosFailure } from './talosctl.js';

/** The answer of a host that is not an Image Factory (a registry mirror's web page, a login). */
const notAFactory = (factory: string, schematic: string, why: string) =>
  nonRetryable(
    FAILURE.ValidationFailed,
    `${factory} answered ${why} for schematic ${schematic}, not the schematic an Image Factory serves: what its images carry (kernel arguments, extensions) cannot be proven. A registry that only mirrors the factory's installers does not serve schematics: name the factory in images.factory (factory.talos.dev)`,
  );

/** What a schematic puts into every image and installer built from it. */
interface SchematicContents {
  kernelArgs: string[];
  /** customization.systemExtensions.officialExtensions, as the schematic lists them. */
  extensions: string[];
}

/**
 * A schematic, as the Image Factory that serves the installers answers `GET /schematics/<id>`
 * (image-factory internal/frontend/http/http.go routes it beside /image and /v2; the answer is the
 * schematic's YAML, 404 for an id it does not know).
 */
async function readSchematic(factory: string, schematic: string): Promise<SchematicContents> {
  const url = `${baseUrl(factory)}/schematics/${schematic}`;
  // Bounded outside an activity too (doctor): a factory that accepts and never answers is an outage.
  const signal = boundedSignal(60_000);
  const answer = await fetch(url, { headers: { Accept: 'application/yaml' }, signal })
    .then(async (response) => ({ response, body: await response.text() }))
    .catch((error: unknown) => {
      throw retryable(
        'TalosUnavailable',
        `${factory} did not answer for schematic ${schematic}: ${(error as Error).message}`,
      );
    });
  const { response, body } = answer;
  if (response.status === 404)
    throw nonRetryable(
      FAILURE.ValidationFailed,
      `${factory} does not know schematic ${schematic}: what its images carry (kernel arguments, extensions) cannot be proven. Check images.schematics and the nodes' own schematic ids, and set images.factory when images.installer names a mirror`,
    );
  if (response.status >= 500 || response.status === 429)
    throw retryable(
      'TalosUnavailable',
      `${factory} answered HTTP ${response.status} for schematic ${schematic}`,
    );
  if (!response.ok) throw notAFactory(factory, schematic, `HTTP ${response.status}`);
  let document: unknown;
  try {
    document = parse(body);
  } catch {
    throw notAFactory(factory, schematic, 'a document that is not YAML');
  }
  if (!document || typeof document !== 'object' || Array.isArray(document))
    throw notAFactory(factory, schematic, 'a document that is not a schematic');
  const customization = (
    document as {
      customization?: { extraKernelArgs?: unknown; systemExtensions?: { officialExtensions?: unknown } };
    }
  ).customization;
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
  return {
    kernelArgs: list(customization?.extraKernelArgs),
    extensions: list(customization?.systemExtensions?.officialExtensions),
  };
}

/** The Image Factory that knows the inventory's schematics: images.factory, else the installers' host. */
const factoryOf = (c: ClusterHandle) =>
  c.inventory.images.factory ?? c.inventory.images.installer.split('/')[0] ?? '';

/** Groups `talosctl get … -o json` output by the node that printed it (talosctl adds `node` to each). */
function byNode<T extends { node?: string }>(statuses: T[]): Map<string, T[]> {
  const grouped = new Map<string, T[]>();
  for (const status of statuses)
    grouped.set(status.node ?? '', [...(grouped.get(status.node ?? '') ?? []), status]);
  return grouped;
}

/**
 * Each node's ExtensionStatuses, in one talosctl call for all. talosctl resolves the resource type on
 * the first node it is given only (cmd/talosctl/cmd/talos/helpers/resources.go, v1.13.8), and 1.14 fails
 * the whole `get` when one node does not answer its Version check (helpers/checks.go, v1.14.1), so one
 * node down can hide every answer: a node missing from the output (down, or an image without extensions)
 * is asked again on its own, all at once. A node that does not answer or hangs is `unanswered`; any
 * other error is final.
 */
async function nodeExtensions(
  deps: ActivityDeps,
  c: ClusterHandle,
  nodes: InventoryNode[],
): Promise<{ answered: Map<string, ExtensionStatus[]>; unanswered: string[] }> {
  const read = (ips: string[], timeoutMs: number) =>
    talosctl(deps, c, ['-n', ips.join(','), 'get', 'extensions', '-o', 'json'], { timeoutMs });
  const answered = new Map<string, ExtensionStatus[]>();
  if (nodes.length === 0) return { answered, unanswered: [] };
  const step = () => ({ step: `reading the extensions of ${nodes.length} node(s)` });
  const all = await heartbeatWhile(
    read(
      nodes.map((n) => n.ip),
      30_000,
    ),
    step,
  );
  for (const [ip, statuses] of byNode(parseJsonStream<ExtensionStatus & { node?: string }>(all.stdout)))
    answered.set(ip, statuses);
  const missing = nodes.filter((n) => !answered.has(n.ip));
  const alone = await heartbeatWhile(
    Promise.all(missing.map(async (node) => ({ node, result: await read([node.ip], 20_000) }))),
    step,
  );
  const unanswered: string[] = [];
  for (const { node, result } of alone) {
    if (result.exitCode === 0) answered.set(node.ip, parseJsonStream<ExtensionStatus>(result.stdout));
    else if (result.timedOut || isUnavailable(result)) unanswered.push(node.name);
    else talosFailure(`reading the extensions of ${node.name}`, result);
  }
  return { answered, unanswered };
}

export function imageFactoryActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  /**
   * Pre-flight: no node's installer leaves out an extension its image loads today (a GPU worker given
   * its role's schematic would install an image without NVIDIA's drivers and come back with no GPU;
   * a rebuilt VM boots the same schematic, proven by proveNodeRebuilds). Read from the nodes (`talosctl
   * get extensions`) and the Image Factory's schematics; refused with nothing touched when one would
   * be lost. Extensions a schematic adds are a change on purpose, not a loss.
   */
  async function proveNodeExtensions(input: {
    cluster: string;
    nodes: string[];
    /** doctor: name the nodes that did not answer instead of failing (retried) as pre-flight does. */
    tolerateUnanswered?: boolean;
  }): Promise<{ schematics: string[]; unanswered: string[] }> {
    const c = cluster(input.cluster);
    const nodes = input.nodes.map((name) => c.node(name));
    const { answered, unanswered } = await nodeExtensions(deps, c, nodes);
    // An unread node is an unproven one: its installer might drop its drivers.
    if (unanswered.length && !input.tolerateUnanswered)
      throw retryable(
        'TalosUnavailable',
        `${unanswered.join(', ')} did not answer talosctl get extensions: what their installers keep cannot be proven; retrying`,
      );
    const factory = factoryOf(c);
    const contents = new Map<string, SchematicContents>();
    const losses: ExtensionLoss[] = [];
    for (const node of nodes) {
      const statuses = answered.get(node.ip);
      if (!statuses) continue;
      const installs = schematicOf(c.inventory, node);
      const { runningSchematic, extensions } = imageExtensions(statuses);
      // The schematic it runs loses nothing: no need to ask the factory (a mirror may not serve it).
      if (runningSchematic === installs || extensions.length === 0) continue;
      if (!contents.has(installs)) {
        const step = `reading schematic ${shortSchematic(installs)} from ${factory}`;
        contents.set(installs, await heartbeatWhile(readSchematic(factory, installs), () => ({ step })));
      }
      const lost = lostExtensions(extensions, contents.get(installs)?.extensions ?? []);
      if (lost.length)
        losses.push({
          node: node.name,
          ...(runningSchematic ? { runs: shortSchematic(runningSchematic) } : {}),
          installs: shortSchematic(installs),
          lost,
        });
    }
    if (losses.length)
      throw nonRetryable(FAILURE.ValidationFailed, describeExtensionLosses(losses), { losses });
    return { schematics: [...contents.keys()].map(shortSchematic), unanswered };
  }

  /**
   * Pre-flight for a rebuild: every kernel argument the run checks on a rebuilt node is one its new VM
   * boots, that is one its schematic carries (a VM from a disk image never runs the installer that
   * would add the config's). Refused before any VM is destroyed otherwise: the node would come back
   * without it, be rolled back by another rebuild, and come back without it again. Returns, per
   * schematic read, only the arguments the run checks: a schematic's others may hold credentials.
   */
  async function proveRebuiltKernelArgs(input: {
    cluster: string;
    nodes: string[];
  }): Promise<{ schematics: Record<string, string[]> }> {
    const c = cluster(input.cluster);
    const checked = input.nodes
      .map((name) => c.node(name))
      .filter((node) => expectedKernelArgs(c.inventory, node).length > 0);
    const nodes = checked.map((node) => ({ node, schematic: schematicOf(c.inventory, node) }));
    const factory = factoryOf(c);
    const schematicArgs = new Map<string, string[]>();
    for (const schematic of new Set(nodes.map((n) => n.schematic))) {
      const step = `reading schematic ${shortSchematic(schematic)} from ${factory}`;
      schematicArgs.set(
        schematic,
        (await heartbeatWhile(readSchematic(factory, schematic), () => ({ step }))).kernelArgs,
      );
    }
    const gaps = rebuildKernelArgGaps(c.inventory, nodes, schematicArgs);
    if (gaps.length)
      throw nonRetryable(FAILURE.ValidationFailed, describeRebuildKernelArgGaps(gaps), { gaps });
    return {
      schematics: Object.fromEntries(
        [...schematicArgs].map(([id, args]) => [id, checkedKernelArgs(c.inventory, checked, args)]),
      ),
    };
  }
  return { proveRebuiltKernelArgs, proveNodeExtensions };
}
