/**
 * Activity heartbeats reach the server at least every 10 s (the SDK's default throttle is 0.8 × the
 * heartbeat timeout, 48 s for a 60 s one). A policy may then lower heartbeatTimeout to 20 s and keep
 * a 10 s margin for a loaded machine: the lower it is, the sooner a dead worker's step goes on
 * elsewhere. One small request per running activity every 10 s is nothing at a homelab's scale.
 * Shared by the worker and the test harnesses, so tests throttle as production does.
 */
export const heartbeatThrottle = { maxHeartbeatThrottleInterval: '10s' } as const;
