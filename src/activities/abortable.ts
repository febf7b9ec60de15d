import { Observable, type ConfigurationOptions } from '@kubernetes/client-node';

/**
 * Per-call options for a client-node API method that end its request when `signal` aborts: a check
 * given up (a health check's timeout or cancellation, the lab's readiness probes in `waitUntil`)
 * closes its connection instead of leaving it open beside the next one. client-node 1.x takes no
 * signal argument, but its request context carries one to fetch; this middleware sets it (the object
 * APIs take the observable kind of middleware). It sits beside KeepAliveKubeConfig: a client-node
 * matter for any caller.
 */
export function abortable(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}
