import { describe, expect, it } from '@jest/globals';
import { isBudgetRefusal } from '../../src/activities/kubernetes.js';

// The two 429s the Eviction API can give. A budget's refusal, byte for byte as the lab's
// kube-apiserver (1.34) answered an eviction of home-assistant, whose PDB allows no disruption (the
// DisruptionBudget cause is the Go field `Type`, written as `reason`); and API Priority and Fairness
// throttling, a Status with no causes. client-node hands the body over as text.
const budget =
  '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Cannot evict pod as it would violate the pod\'s disruption budget.","reason":"TooManyRequests","details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget home-assistant needs 1 healthy pods and has 1 currently"}]},"code":429}\n';
const throttling = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'Too many requests, please try again later.',
  reason: 'TooManyRequests',
  details: { retryAfterSeconds: 1 },
  code: 429,
};

describe('which 429 of the Eviction API is a PodDisruptionBudget refusal', () => {
  it('a budget refusal, as text or as an object', () => {
    expect(isBudgetRefusal({ code: 429, body: budget })).toBe(true);
    expect(isBudgetRefusal({ code: 429, body: JSON.parse(budget) as unknown })).toBe(true);
  });

  it('throttling, an empty or unreadable body: not a refusal', () => {
    expect(isBudgetRefusal({ code: 429, body: JSON.stringify(throttling) })).toBe(false);
    expect(isBudgetRefusal({ code: 429, body: undefined })).toBe(false);
    expect(isBudgetRefusal({ code: 429, body: 'Too many requests' })).toBe(false);
    expect(isBudgetRefusal(new Error('socket hang up'))).toBe(false);
  });
});
