/**
 * The shortest time in which `p` lanes can run jobs of the given durations, none split: the exact
 * optimum by branch and bound (longest job first, lanes of equal load tried once), which for the dozen
 * workers of a cluster takes microseconds. It is the workers' share of a critical-path lower bound.
 */
export function bestMakespan(durations: number[], lanes: number): number {
  const jobs = [...durations].sort((a, b) => b - a);
  if (jobs.length === 0) return 0;
  const load = new Array<number>(Math.max(1, lanes)).fill(0);
  let best = jobs.reduce((a, b) => a + b, 0);
  const place = (index: number, current: number) => {
    if (current >= best) return;
    if (index === jobs.length) {
      best = current;
      return;
    }
    const job = jobs[index] ?? 0;
    const tried = new Set<number>();
    for (let lane = 0; lane < load.length; lane++) {
      const before = load[lane] ?? 0;
      if (tried.has(before)) continue;
      tried.add(before);
      load[lane] = before + job;
      place(index + 1, Math.max(current, before + job));
      load[lane] = before;
    }
  };
  place(0, 0);
  return best;
}
