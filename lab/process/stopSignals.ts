import { constants } from 'node:os';

/** What stops a script from outside and leaves it time to clean up: Ctrl-C, `kill`, a closed terminal. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * On Ctrl-C, `kill` or a closed terminal: says so, runs `stop` to the end, then exits with the
 * shell's code for the signal (130 for Ctrl-C). A second signal leaves at once. The listeners stay
 * (`on`, not `once`): execa's exit hook re-raises a signal when it sees no other listener left, which
 * ended the process before anything was stopped (the labs run detached, and stayed up). Returns what
 * removes them.
 */
export function stopOnSignals(what: string, stop: () => Promise<unknown>): () => void {
  let interrupts = 0;
  const interrupted = (signal: NodeJS.Signals) => {
    interrupts += 1;
    const code = 128 + (constants.signals[signal] ?? 2);
    if (interrupts > 1) process.exit(code);
    console.error(`\n${signal}: stopping ${what}… (Ctrl-C again to leave at once)`);
    // The interrupted work runs on while what it uses goes away under it: what it throws now (a
    // call on a closed connection) is no news, and must not end the process before the last stop.
    const ignore = () => undefined;
    process.on('uncaughtException', ignore).on('unhandledRejection', ignore);
    void stop()
      .catch(() => undefined)
      .then(() => process.exit(code));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, interrupted);
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, interrupted);
  };
}
