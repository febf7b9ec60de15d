import {
  createConfiguration,
  Observable,
  ServerConfiguration,
  type ApiConstructor,
  type ApiType,
  type ConfigurationOptions,
  type KubeConfig,
  type ObservableMiddleware,
} from '@kubernetes/client-node';

/**
 * Per-call options for a client-node API method that end its request when `signal` aborts: a check
 * given up (the lab's readiness probes in `waitUntil`) closes its connection instead of leaving it
 * open beside the next one. client-node 1.x takes no signal argument, but its request context carries
 * one to fetch; this middleware sets it (the object APIs take the observable kind of middleware). It
 * sits beside KeepAliveKubeConfig: a client-node matter for any caller. Code that makes many calls
 * under one signal takes `abortableApiClient` instead.
 */
export function abortable(signal: AbortSignal): ConfigurationOptions {
  return { middleware: [signalMiddleware(signal)], middlewareMergeStrategy: 'append' };
}

function signalMiddleware(signal: AbortSignal): ObservableMiddleware {
  return {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

/**
 * An API client of `kc`'s current cluster whose every request ends when `signal` aborts: for code
 * that makes many calls under one signal (a health check), where one call without `abortable` would
 * bring the open connection back. Built as `kc.makeApiClient` builds its clients (client-node 1.x:
 * the cluster's server, `kc` authenticating each request), with the middleware in the configuration.
 */
export function abortableApiClient<T extends ApiType>(
  kc: KubeConfig,
  apiClientType: ApiConstructor<T>,
  signal: AbortSignal,
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  return new apiClientType(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      // One middleware only: client-node reverses a configuration's list in place at each request
      // (1.x), which would reorder two.
      middleware: [signalMiddleware(signal)],
    }),
  );
}
