import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

/** The cluster an inventory file describes. */
export async function clusterNameOf(file: string): Promise<string> {
  const doc = parse(await readFile(file, 'utf8')) as { cluster?: { name?: string } };
  if (!doc.cluster?.name) throw new Error(`${file} names no cluster`);
  return doc.cluster.name;
}
