/**
 * A heartbeat an activity records reaches the server within 10 s (the SDK holds one back for
 * min(0.8 × the heartbeat timeout, this), 48 s for a 60 s timeout). The activities record one every
 * few seconds (runCommand from its start and every 5 s, each round of a drain or a wait, every 5 s of
 * a health check), so a policy may lower heartbeatTimeout to 20 s: the sooner a dead worker's step
 * goes on elsewhere. One small request per running activity every 10 s is nothing at a homelab's
 * scale. Shared by the worker and the test harnesses, so tests throttle as production does.
 */
export const heartbeatThrottle = { maxHeartbeatThrottleInterval: '10s' } as const;
