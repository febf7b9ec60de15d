// The workflows the worker registers. Deterministic code only: eslint bans Node built-ins and I/O here.
export { upgradeQueue } from './upgradeQueue.js';
export { clusterUpgrade } from './clusterUpgrade.js';
export { nodeUpgrade } from './node/nodeUpgrade.js';
export { pollRepository } from './pollRepository.js';
export { mergeDryRun } from './mergeDryRun.js';
