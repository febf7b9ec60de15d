import { describe, expect, it } from '@jest/globals';
import { promqlError, selectedMetrics, shippedExpressions } from './promql.js';

// Whether the names exist on a worker is checked against a real one in test/worker/worker.test.ts.
describe('the shipped alert rules and Grafana dashboard', () => {
  it('are PromQL that Prometheus parses, selecting only talos-upgrade metrics (and up)', async () => {
    const expressions = await shippedExpressions();
    expect(expressions.length).toBeGreaterThan(10);
    for (const { where, expr } of expressions) {
      expect({ where, error: promqlError(expr) }).toEqual({ where, error: undefined });
      for (const name of selectedMetrics(expr)) expect(name).toMatch(/^(talos_upgrade_\w+|up)$/);
    }
  });

  it('a broken expression is caught, so the check above can fail', () => {
    expect(promqlError('sum by (cluster (talos_upgrade_runs_total')).toBeDefined();
    expect(selectedMetrics('rate(a_total[5m]) / b')).toEqual(['a_total', 'b']);
  });
});
