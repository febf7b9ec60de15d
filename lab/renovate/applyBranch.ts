import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RenovateBranch, RenovateUpgrade } from './renovateRun.js';

/**
 * What Renovate's auto-replace writes for one upgrade of a regex manager: at the first place the
 * dependency's replaceString stands, the same text with every currentValue (autoReplaceGlobalMatch,
 * on by default) turned into newValue. Platform `local` computes the branches but never writes them,
 * so the lab replays this rule; the tests check the product then reads newValue, as Renovate's own
 * confirmation does. Text that no longer holds the replaceString is left alone, as Renovate does.
 */
export function replaceUpgrade(content: string, upgrade: RenovateUpgrade): string {
  const { replaceString, currentValue, newValue } = upgrade;
  if (!replaceString || !currentValue || !newValue || currentValue === newValue) return content;
  const at = content.indexOf(replaceString);
  if (at === -1) return content;
  const replaced = replaceString.split(currentValue).join(newValue);
  return content.slice(0, at) + replaced + content.slice(at + replaceString.length);
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
