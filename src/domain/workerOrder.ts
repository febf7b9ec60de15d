/**
 * The workers' order for a hop's first round. A drain that a PodDisruptionBudget blocks waits out the
 * drain timeout and then forces its pod out; in the first round no worker is upgraded yet, so the pod
 * can only land on another worker still to upgrade, whose drain it then blocks too (two forced
 * evictions of an app that allows none, and two long nodes). Started once one worker is done, the pod
 * goes to the upgraded worker (pending workers carry a soft taint) and blocks nothing more.
 *
 * So the first round takes the first `width` workers that no budget blocks, from the first 2 × `width`
 * (a node further down the inventory is not pulled forward to spare a read of every node), and the
 * blocked ones it passed over come right after it, where the next free lane starts them first.
 * Nothing changes when the first round has no blocked worker, or when there is no round after it.
 */
export function deferBlockedFromFirstRound<N extends { name: string }>(
  workers: N[],
  blocked: readonly string[],
  width: number,
): N[] {
  const considered = firstRoundCandidates(workers, width);
  const isBlocked = (n: N) => blocked.includes(n.name);
  if (!considered.slice(0, width).some(isBlocked)) return workers;
  const free = considered.filter((n) => !isBlocked(n));
  return [
    ...free.slice(0, width),
    ...considered.filter(isBlocked),
    ...free.slice(width),
    ...workers.slice(2 * width),
  ];
}

/** The workers whose drain the first-round read asks about (see deferBlockedFromFirstRound). */
export function firstRoundCandidates<N>(workers: N[], width: number): N[] {
  return workers.length <= width ? [] : workers.slice(0, 2 * width);
}
