import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, parse, parseDocument } from 'yaml';
import { initAsUser } from './initCli.js';

const CHOICES = fileURLToPath(new URL('../fixtures/choices/', import.meta.url));

/** What a user adds to init's inventory by hand: policy and notifications, never a fact about a node. */
export type Choices = Record<string, unknown>;

/** The choices of a preset's user (test/fixtures/choices/<preset>.yaml). */
export async function presetChoices(preset: string): Promise<Choices> {
  return parse(await readFile(join(CHOICES, `${preset}.yaml`), 'utf8')) as Choices;
}

/**
 * `choices` written into an inventory: a section's keys over init's (policy: the user's policy beside
 * the global patches init found; terraform: lockTimeout beside what init found).
 */
export function withChoices(inventoryText: string, choices: Choices): string {
  const doc = parseDocument(inventoryText);
  for (const [section, value] of Object.entries(choices)) {
    const current = doc.getIn([section]);
    if (isMap(current) && value && typeof value === 'object' && !Array.isArray(value))
      for (const [key, inner] of Object.entries(value)) doc.setIn([section, key], doc.createNode(inner));
    else doc.setIn([section], doc.createNode(value));
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
