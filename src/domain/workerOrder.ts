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
 * The first round also takes at most one worker that carries Ceph OSDs (`storage`): the rolling window
 * never runs two of them at once, so a second one would only hold its lane idle; the others it passed
 * over keep their place behind it. Nothing changes when the first round is already so, or when there is
 * no round after it.
 */
export function deferBlockedFromFirstRound<N extends { name: string }>(
  workers: N[],
  blocked: readonly string[],
  width: number,
  storage: readonly string[] = [],
): N[] {
  const considered = firstRoundCandidates(workers, width);
  if (considered.length === 0) return workers;
  const isBlocked = (n: N) => blocked.includes(n.name);
  const first: N[] = [];
  let storageTaken = false;
  for (const node of considered) {
    if (first.length === width) break;
    if (isBlocked(node)) continue;
    if (storage.includes(node.name)) {
      if (storageTaken) continue;
      storageTaken = true;
    }
    first.push(node);
  }
  if (first.length === width && first.every((node, i) => node === workers[i])) return workers;
  const passed = considered.filter((n) => !first.includes(n));
  return [
    ...first,
    ...passed.filter(isBlocked),
    ...passed.filter((n) => !isBlocked(n)),
    ...workers.slice(considered.length),
  ];
}

export function firstRoundCandidates<N>(workers: N[], width: number): N[] {
  return workers.length <= width ? [] : workers.slice(0, 2 * width);
}
