// The pure core: versions, plans, policies, inventory and variables.tf. No I/O lives here.
export * from './version.js';
export * from './releases.js';
export * from './strategy.js';
export * from './kubernetesSupport.js';
export * from './planError.js';
export * from './talosHops.js';
export * from './kubernetesSteps.js';
export * from './upgradePlan.js';
export * from './hopPrerequisites.js';
export * from './talosApi.js';
export * from './renovatePatterns.js';
export * from './variablesTf.js';
export * from './upgradeRequest.js';
export * from './inventory/index.js';
export * from './searchAttributes.js';
export * from './webhookEvent.js';
export * from './failureTypes.js';
