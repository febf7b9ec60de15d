import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, parse, parseDocument } from 'yaml';
import { initAsUser } from './initCli.js';

const CHOICES = fileURLToPath(new URL('../fixtures/choices/', import.meta.url));

/** What a user adds to init's inventory by hand: policy, notifications, the GPU patches init points out. */
export type Choices = Record<string, unknown> & { nodes?: Record<string, Record<string, unknown>> };

/** The choices of a preset's user (test/fixtures/choices/<preset>.yaml). */
export async function presetChoices(preset: string): Promise<Choices> {
  return parse(await readFile(join(CHOICES, `${preset}.yaml`), 'utf8')) as Choices;
}

/**
 * `choices` written into an inventory: a section's keys over init's (policy: the user's policy;
 * terraform: lockTimeout beside what init found), a node's fields by its name. A fleet member's
 * nodes carry the member's name before the preset's node name, so a name also matches as a suffix.
 */
export function withChoices(inventoryText: string, choices: Choices): string {
  const doc = parseDocument(inventoryText);
  for (const [section, value] of Object.entries(choices)) {
    if (section === 'nodes') continue;
    const current = doc.getIn([section]);
    if (isMap(current) && value && typeof value === 'object' && !Array.isArray(value))
      for (const [key, inner] of Object.entries(value)) doc.setIn([section, key], doc.createNode(inner));
    else doc.setIn([section], doc.createNode(value));
  }
  const names = (doc.toJS() as { nodes: Array<{ name: string }> }).nodes.map((node) => node.name);
  for (const [name, fields] of Object.entries(choices.nodes ?? {})) {
    const index = names.findIndex((n) => n === name || n.endsWith(`-${name}`));
    if (index < 0) throw new Error(`the user's choices name node ${name}, which init did not find`);
    for (const [key, inner] of Object.entries(fields))
      doc.setIn(['nodes', index, key], doc.createNode(inner));
  }
  return doc.toString();
}

/**
 * The inventory a user of a lab cluster ends up with: `talos-upgrade init` run on what the lab built
 * (the real CLI, the files the user holds), then their choices added. Every fact the product acts on
 * comes from init; a test that needs another policy changes it on top, as before.
 */
export async function userInventory(
  clusterDir: string,
  env: Record<string, string>,
  choices: Choices,
  credentials = { kubeconfig: env.KUBECONFIG ?? '', talosconfig: env.TALOSCONFIG ?? '' },
): Promise<string> {
  const out = join(clusterDir, 'repo', 'inventory.yaml');
  const result = await initAsUser(clusterDir, env, out, credentials);
  if (result.exitCode !== 0)
    throw new Error(`talos-upgrade init on ${clusterDir} failed (${result.exitCode}):\n${result.stderr}`);
  await writeFile(out, withChoices(await readFile(out, 'utf8'), choices));
  return out;
}
