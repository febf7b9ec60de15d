import { loadInventoryFile } from '../inventoryFile.js';

/** `talos-upgrade validate <inventory...>`: every file is checked, all problems reported at once. */
export async function validateCommand(files: string[]): Promise<number> {
  let failed = 0;
  for (const file of files) {
    try {
      const inventory = await loadInventoryFile(file);
      const controllers = inventory.nodes.filter((node) => node.role === 'controlplane').length;
      const workers = inventory.nodes.length - controllers;
      console.log(
        `✅ ${file}: cluster ${inventory.cluster.name}, ${controllers} controllers + ${workers} workers`,
      );
    } catch (error) {
      failed++;
      console.error(`❌ ${(error as Error).message}`);
    }
  }
  return failed === 0 ? 0 : 2;
}
