// A command whose reader goes away (`talos-upgrade --help | head`, a pager quit early) ends quietly:
// without this, Node reports the EPIPE of the next write as an unhandled error with a stack trace.

/** Ends the process, with the exit code set so far, once stdout's reader has closed the pipe. */
export function endQuietlyOnClosedPipe() {
  process.stdout.on('error', (/** @type {NodeJS.ErrnoException} */ error) => {
    if (error.code === 'EPIPE') process.exit();
    throw error;
  });
}
