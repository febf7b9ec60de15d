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
