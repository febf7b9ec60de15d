/**
 * The soft taint a run puts on the nodes it has yet to upgrade: the scheduler places the pods each
 * drain moves on nodes already upgraded where they fit, so an app moves once per run instead of once
 * per node, and a single-replica app under a PDB blocks one drain instead of one per round. Uncordoning
 * a node takes it off; the run takes off what is left when it ends.
 */
export const PENDING_TAINT = { key: 'talos-upgrade.dev/pending', effect: 'PreferNoSchedule' } as const;
