/**
 * The custom search attributes the workflows set, so runs can be found and filtered in the Web UI
 * (e.g. `UpgradePhase = "AwaitingApproval"`). A Temporal server must have them registered.
 */
export const SEARCH_ATTRIBUTES = {
  TalosCluster: 'Keyword',
  TalosFromVersion: 'Keyword',
  TalosToVersion: 'Keyword',
  UpgradeStrategy: 'Keyword',
  UpgradePhase: 'Keyword',
  NodeName: 'Keyword',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

/** A value quoted for a visibility query (`TalosCluster = 'x'`): quotes and backslashes dropped. */
export function queryValue(value: string): string {
  return `'${value.replace(/[\\']/g, '')}'`;
}

/**
 * The UpgradePhase values a node run writes: only where an operator filters on them (the CLI's
 * stuck-undo lookup asks for CompensationStuck); each step is in the run's details and progress query.
 */
export const NODE_PHASE = {
  Upgrading: 'Upgrading',
  Skipped: 'Skipped',
  Done: 'Done',
  RollingBack: 'RollingBack',
  RolledBack: 'RolledBack',
  RollbackFailed: 'RollbackFailed',
  CompensationStuck: 'CompensationStuck',
} as const;

export type NodePhase = (typeof NODE_PHASE)[keyof typeof NODE_PHASE];
