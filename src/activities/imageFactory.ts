import { parse } from 'yaml';
import {
  checkedKernelArgs,
  describeRebuildKernelArgGaps,
  expectedKernelArgs,
  FAILURE,
  rebuildKernelArgGaps,
  schematicOf,
  shortSchematic,
} from '../domain/index.js';
import { boundedSignal, heartbeatWhile } from './activityContext.js';
import type { ClusterHandle } from './deps.js';
import { nonRetryable, retryable } from './errors.js';
import { baseUrl } from './registry.js';

/** The answer of a host that is not an Image Factory (a registry mirror's web page, a login). */
const notAFactory = (factory: string, schematic: string, why: string) =>
  nonRetryable(
    FAILURE.ValidationFailed,
    `${factory} answered ${why} for schematic ${schematic}, not the schematic an Image Factory serves: the kernel arguments a rebuilt VM boots cannot be proven. A registry that only mirrors the factory's installers does not serve schematics: name the factory in images.factory (factory.talos.dev)`,
  );

/**
 * A schematic's extraKernelArgs, as the Image Factory that serves the installers answers
 * `GET /schematics/<id>` (image-factory internal/frontend/http/http.go routes it beside /image and /v2;
 * the answer is the schematic's YAML, 404 for an id it does not know).
 */
async function schematicKernelArgs(factory: string, schematic: string): Promise<string[]> {
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
      `${factory} does not know schematic ${schematic}: the kernel arguments a rebuilt VM boots cannot be proven. Check images.schematics and the nodes' own schematic ids`,
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
  const args = (document as { customization?: { extraKernelArgs?: unknown } }).customization?.extraKernelArgs;
  return Array.isArray(args) ? args.map(String) : [];
}

export function imageFactoryActivities(cluster: (name: string) => ClusterHandle) {
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
    const factory = c.inventory.images.factory ?? c.inventory.images.installer.split('/')[0] ?? '';
    const schematicArgs = new Map<string, string[]>();
    for (const schematic of new Set(nodes.map((n) => n.schematic))) {
      const step = `reading schematic ${shortSchematic(schematic)} from ${factory}`;
      schematicArgs.set(
        schematic,
        await heartbeatWhile(schematicKernelArgs(factory, schematic), () => ({ step })),
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
  return { proveRebuiltKernelArgs };
}
