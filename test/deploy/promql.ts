import { readFile } from 'node:fs/promises';
import { parser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';

const root = new URL('../../', import.meta.url);

/** Every PromQL expression the deployment ships: alert rules and the Grafana dashboard's panels. */
export async function shippedExpressions(): Promise<Array<{ where: string; expr: string }>> {
  const rules = parse(await readFile(new URL('deploy/prometheus-alerts.yaml', root), 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ alert: string; expr: string }> }>;
  };
  const dashboard = JSON.parse(await readFile(new URL('deploy/grafana-dashboard.json', root), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  return [
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
  ];
}

/** Grafana's variables as a query would have them at run time, so the text is plain PromQL. */
const withVariables = (expr: string) =>
  expr.replace(/\$__(rate_interval|range|interval)/g, '5m').replace(/\$cluster/g, '.*');

/** Where Prometheus's own PromQL grammar (the one its UI uses) finds an error, or undefined. */
export function promqlError(expr: string): string | undefined {
  const text = withVariables(expr);
  const cursor = parser.parse(text).cursor();
  do {
    if (cursor.type.isError)
      return `syntax error at ${cursor.from}: ${text.slice(cursor.from, cursor.from + 30)}`;
  } while (cursor.next());
  return undefined;
}

/** The metric names an expression selects, as the grammar reads them (VectorSelector identifiers). */
export function selectedMetrics(expr: string): string[] {
  const text = withVariables(expr);
  const names: string[] = [];
  const cursor = parser.parse(text).cursor();
  do {
    if (cursor.type.name === 'VectorSelector' && cursor.firstChild()) {
      // firstChild moved the cursor: read its node type afresh.
      const child: string = cursor.type.name;
      if (child === 'Identifier') names.push(text.slice(cursor.from, cursor.to));
      cursor.parent();
    }
  } while (cursor.next());
  return names;
}
