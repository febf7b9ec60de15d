import { Observable, type ConfigurationOptions } from '@kubernetes/client-node';

/**
 * Per-call options for a client-node API method that end its request when `signal` aborts: a
 * readiness probe given up by `waitUntil` closes its connection instead of leaving it open beside the
 * next probe. client-node 1.x takes no signal argument, but its request context carries one to fetch;
 * this middleware sets it (the object APIs take the observable kind of middleware).
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
