export * from './schema.js';
export * from './parseInventory.js';
export * from './planningPolicy.js';
export { parseDuration } from './duration.js';
export * from './clusterPaths.js';
export * from './kernelArgs.js';
export * from './nodeSources.js';
export * from './vlans.js';
