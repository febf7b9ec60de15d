/**
 * Who may approve or reject a cluster's runs (policy.approval.approvers): an entry names a user (any
 * of their identities, `alice`) or one identity (`alice@laptop`). The identity is the one the answer
 * names (talos-upgrade sends its client's: `--identity`, else `<user>@<host>`; a Web UI signal, what its
 * JSON says): it tells honest operators apart and stops a mistaken approval, it authenticates nobody. Anyone who
 * can reach Temporal can still declare any identity (docs/operations.md, "Who may act").
 */
export function approverRefusal(
  approvers: readonly string[] | undefined,
  identity: string | undefined,
): string | undefined {
  if (!approvers?.length) return undefined;
  const allowed = approvers.join(', ');
  if (!identity)
    return `only ${allowed} may approve or reject this cluster's runs (policy.approval.approvers), and this answer names no identity: answer with talos-upgrade approve|reject (--identity, else your <user>@<host>), or add "identity" to the signal's JSON`;
  const [user] = identity.split('@');
  if (approvers.some((entry) => entry === identity || (!entry.includes('@') && entry === user)))
    return undefined;
  return `${identity} may not approve or reject this cluster's runs: policy.approval.approvers names ${allowed}`;
}
