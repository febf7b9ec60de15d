import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHIPPED_PRESET, type RenovateBranch, type RenovateUpgrade } from './renovateRun.js';

// The matchStrings of the preset Renovate runs with, read from the preset itself (not through the
// product's reading of them, so that a fault there is not the lab's too).
const MATCH_STRINGS = (
  JSON.parse(readFileSync(SHIPPED_PRESET, 'utf8')) as { customManagers: Array<{ matchStrings: string[] }> }
).customManagers.flatMap((manager) => manager.matchStrings);

/**
 * Renovate's check after a replacement (confirmIfDepUpdated): extracting the file again with the
 * regex managers' matchStrings finds the dependency at its new value.
 */
function updated(content: string, upgrade: RenovateUpgrade): boolean {
  return MATCH_STRINGS.some((source) =>
    [...content.matchAll(new RegExp(source, 'g'))].some(
      ({ groups }) =>
        groups?.depType === upgrade.depType &&
        (groups?.currentValue ?? groups?.currentDigest) === upgrade.newValue,
    ),
  );
}

/**
 * What Renovate's auto-replace writes for one upgrade of a regex manager (the preset's managers set
 * no autoReplaceStringTemplate): where the dependency's replaceString stands, the same text with every
 * currentValue (autoReplaceGlobalMatch, on by default) turned into newValue — at the first place whose
 * replacement, extracted again with the same matchStrings, holds the new value; Renovate fails the
 * branch when no place does. Text that no longer holds the replaceString is left alone ("already
 * updated"). Platform `local` computes branches but never writes them, so the lab replays this rule.
 */
export function replaceUpgrade(content: string, upgrade: RenovateUpgrade): string {
  const { replaceString, currentValue, newValue } = upgrade;
  if (!replaceString || !currentValue || !newValue || currentValue === newValue) return content;
  const replaced = replaceString.split(currentValue).join(newValue);
  let at = content.indexOf(replaceString);
  if (at === -1) return content;
  for (; at !== -1; at = content.indexOf(replaceString, at + 1)) {
    const candidate = content.slice(0, at) + replaced + content.slice(at + replaceString.length);
    if (updated(candidate, upgrade)) return candidate;
  }
  throw new Error(
    `Renovate would fail ${upgrade.packageFile}: no replacement of ${upgrade.depType ?? upgrade.depName} ` +
      `${currentValue} -> ${newValue} extracts as updated (WORKER_FILE_UPDATE_FAILED)`,
  );
}

/** Writes a branch's upgrades into the working tree of `repoDir`, file by file, in Renovate's order. */
export async function applyRenovateBranch(repoDir: string, branch: RenovateBranch): Promise<string[]> {
  const files = [...new Set(branch.upgrades.map((u) => u.packageFile))];
  for (const file of files) {
    const path = join(repoDir, file);
    let content = await readFile(path, 'utf8');
    for (const upgrade of branch.upgrades.filter((u) => u.packageFile === file))
      content = replaceUpgrade(content, upgrade);
    await writeFile(path, content);
  }
  return files;
}
