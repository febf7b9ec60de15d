import { freePort } from './freePort.js';

/** How deep an error's causes are followed (a cause that points back at its error must not loop). */
const MAX_CAUSES = 8;

/** The errors an error was caused by, itself first. */
function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = error; e instanceof Error && chain.length < MAX_CAUSES; e = e.cause) chain.push(e);
  return chain;
}

/** The ports an error (or one of its causes) says were taken, as a Go server (etcd, kube-apiserver, the
 * Temporal dev server) says it: `listen tcp 127.0.0.1:43121: bind: address already in use`. */
export function takenPorts(error: unknown): number[] {
  return causes(error).flatMap((e) =>
    [...e.message.matchAll(/:(\d+): bind: address already in use/g)].map((m) => Number(m[1])),
  );
}

/**
 * Whether the error says that one of these ports was taken. Only the ports given count: another
 * address in use (a node's :50000 held by a leftover process, an old line of a log kept across
 * restarts) is not cured by new ports.
 */
export function portWasTaken(error: unknown, ports: Iterable<number>): boolean {
  const wanted = new Set(ports);
  return takenPorts(error).some((port) => wanted.has(port));
}

/**
 * Starts servers on ports picked free, and starts them again on new ports when one found its port
 * taken. A port is free when picked and bound by its server a moment later; on a machine where test
 * suites start servers side by side, another one can take it in between (a lab's scheduler once
 * died so, and the suite waited out its timeout for pods never scheduled). Any outgoing connection
 * can take it too: the system gives those their local port from the same range. `start` picks each
 * port it binds with the `pick` it is given; a failure that names none of those ports is thrown at
 * once. `start` must stop what it started before it throws; `attempt` (1 first) lets it try given
 * ports only the first time.
 *
 * `picksOwnPorts`: the server also binds ports it picks itself, anew at each start (the Temporal dev
 * server's history, matching and worker services), and `start`'s error holds only that start's own
 * words; then any port it names as taken counts, except one given to `pick` (a restart's, which it
 * keeps: starting again would find it taken again).
 */
export async function withFreshPorts<T>(
  what: string,
  start: (pick: (port?: number) => Promise<number>, attempt: number) => Promise<T>,
  options: { tries?: number; progress?: (message: string) => void; picksOwnPorts?: boolean } = {},
): Promise<T> {
  const tries = options.tries ?? 3;
  for (let attempt = 1; ; attempt++) {
    const picked: number[] = [];
    const given = new Set<number>();
    /** A free port, or the one given (a test's, a restart's), counted as this attempt's. */
    const pick = async (port?: number) => {
      if (port !== undefined) given.add(port);
      const chosen = port ?? (await freePort());
      picked.push(chosen);
      return chosen;
    };
    try {
      return await start(pick, attempt);
    } catch (error) {
      // A given port counts among the picked (a test gives a taken one on the first attempt only).
      const cured = options.picksOwnPorts
        ? takenPorts(error).some((port) => !given.has(port))
        : portWasTaken(error, picked);
      if (attempt >= tries || !cured) throw error;
      const first = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      options.progress?.(
        `${what}: a port was taken before its server bound it (${first}); starting again with new ports (attempt ${attempt + 1} of ${tries})`,
      );
    }
  }
}
