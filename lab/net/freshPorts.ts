/**
 * What a Go server (etcd, kube-apiserver, the Temporal dev server, the lab Talos API) says when its
 * port is taken: `listen tcp 127.0.0.1:43121: bind: address already in use`.
 */
const PORT_TAKEN = /address already in use/i;

/** Whether an error, or any error it was caused by, says that a port was taken. */
export function portWasTaken(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (PORT_TAKEN.test(e.message)) return true;
  return false;
}

/**
 * Starts servers whose ports come from freePort() again, with new ports, when one of them found its
 * port taken. A port is free when picked and bound by the server a moment later; on a machine where
 * test suites start servers side by side, another one can take it in between (a lab's scheduler once
 * died so, and the suite waited out its timeout for pods never scheduled). Any other failure is
 * thrown at once. `start` must stop what it started before it throws.
 */
export async function withFreshPorts<T>(
  what: string,
  start: () => Promise<T>,
  options: { tries?: number; progress?: (message: string) => void } = {},
): Promise<T> {
  const tries = options.tries ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= tries || !portWasTaken(error)) throw error;
      const first = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      options.progress?.(
        `${what}: a port was taken before its server bound it (${first}); starting again with new ports (attempt ${attempt + 1} of ${tries})`,
      );
    }
  }
}
