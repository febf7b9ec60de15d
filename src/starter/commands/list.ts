import { queryValue } from '../../domain/index.js';
import { connectClient } from '../temporalClient.js';
import { duration, table } from './format.js';

/**
 * `list [--cluster c] [--limit n]`: recent runs, running first then newest, with how they ended; a
 * merge's dry run (`start --merge … --dry-run`) among them, since it plans and runs pre-flight as a
 * run does.
 */
export async function listCommand(options: { cluster?: string; limit?: string }): Promise<number> {
  const limit = Number(options.limit ?? 20);
  const temporal = await connectClient();
  try {
    const filter = options.cluster ? ` AND TalosCluster = ${queryValue(options.cluster)}` : '';
    const rows: string[][] = [];
    for await (const run of temporal.client.workflow.list({
      // No ORDER BY: SQL visibility (the dev server's SQLite, PostgreSQL, MySQL) refuses it; every
      // visibility store lists running runs first, then the most recently closed.
      query: `WorkflowType IN ('clusterUpgrade', 'mergeDryRun')${filter}`,
      pageSize: limit,
    })) {
      const sa = run.searchAttributes;
      const mergeDry = run.type === 'mergeDryRun';
      const end = run.closeTime ?? new Date();
      rows.push([
        run.startTime.toISOString().replace('T', ' ').slice(0, 19),
        String(sa.TalosCluster?.[0] ?? ''),
        mergeDry && !sa.TalosToVersion
          ? 'a merge'
          : `${String(sa.TalosFromVersion?.[0] ?? '?')} -> ${String(sa.TalosToVersion?.[0] ?? '?')}`,
        mergeDry ? 'dry run' : (sa.UpgradeStrategy ?? []).map(String).join('+'),
        run.status.name.toLowerCase(),
        String(sa.UpgradePhase?.[0] ?? ''),
        duration(end.getTime() - run.startTime.getTime()),
        run.workflowId,
      ]);
      if (rows.length >= limit) break;
    }
    console.log(
      rows.length
        ? table(
            ['STARTED (UTC)', 'CLUSTER', 'TALOS', 'STRATEGY', 'STATUS', 'PHASE', 'TIME', 'WORKFLOW'],
            rows,
          )
        : 'no upgrade runs yet',
    );
    return 0;
  } finally {
    await temporal.close();
  }
}
