import type { ClusterProgress } from './types.js';

/** "alice (alice@laptop)": the name typed, and the identity of the client that sent the answer. */
export function answeredBy(answer: { by?: string | undefined; identity?: string | undefined }): string {
  const by = answer.by ?? answer.identity ?? 'someone';
  return answer.identity && answer.identity !== by ? `${by} (${answer.identity})` : by;
}

/** "90s", "2m", "1h 5m": a duration as an operator says it. */
export function humanDuration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.round((ms % 3_600_000) / 60_000);
  return minutes ? `${hours}h ${minutes}m` : `${hours}h`;
}

/**
 * The cluster run's current details for the Web UI (markdown): where it is, what it waits for and how
 * to answer, and the per-node table — done, rolled back, in flight.
 */
export function renderRunDetails(progress: ClusterProgress, cluster: string, note: string): string {
  const done = progress.nodes.filter((n) => n.outcome === 'upgraded' || n.outcome === 'skipped').length;
  const head = [
    `**${cluster}** · phase **${progress.phase}**`,
    progress.hop ? `hop ${progress.hop}` : '',
    `${done}/${progress.totalNodeUpgrades} node upgrades done`,
    progress.paused ? '**PAUSED** (resume to go on)' : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const waiting =
    progress.canary?.state === 'holding'
      ? `Holding after the canary ${progress.canary.node}: \`talos-upgrade approve ${cluster}\` to go on now, \`reject\` to stop here.`
      : progress.approval?.state === 'waiting'
        ? `Waiting for approval${progress.approvers ? ` by ${progress.approvers.join(', ')}` : ''}: \`talos-upgrade approve ${cluster}\` (or \`reject\`), or send the signal **approve** with \`{"by": "your name", "identity": "you@your-host"}\`.`
        : (progress.approval?.state === 'approved' || progress.approval?.state === 'rejected') &&
            progress.approval.by
          ? `${progress.approval.state === 'approved' ? 'Approved' : 'Rejected'} by ${answeredBy(progress.approval)}.`
          : '';
  const trial =
    progress.canary && progress.canary.state !== 'holding'
      ? `Canary ${progress.canary.node}: ${progress.canary.state}${progress.canary.by ? ` by ${answeredBy(progress.canary)}` : progress.canary.state === 'held' ? ' (its hold passed)' : ''}`
      : '';
  const rows = [
    ...progress.nodes.map(
      (n) =>
        `| ${n.node} | ${n.hop} | ${n.strategy} | ${n.outcome} | ${humanDuration(n.durationMs)} |${n.error ? ` ${n.error.slice(0, 120)}` : ''}`,
    ),
    ...progress.current.map((node) => `| ${node} | ${progress.hop ?? ''} | | in flight | |`),
  ];
  const table = rows.length
    ? ['| node | hop | strategy | outcome | took | error', '|---|---|---|---|---|---', ...rows].join('\n')
    : '';
  const planned = progress.planNote ? `Planned from the nodes: ${progress.planNote}` : '';
  const checked = progress.preFlight ? `Pre-flight ${progress.preFlight}` : '';
  return [head, planned, checked, note, waiting, trial, table].filter(Boolean).join('\n\n');
}
