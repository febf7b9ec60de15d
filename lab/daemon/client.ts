/**
 * A call to a running lab daemon's control API (lab/daemon/api.ts), shared by the `talos-lab` command
 * and the tests, which read and change the lab without a process per call.
 */
export class LabApiError extends Error {}

export interface LabApiCall {
  /** GET without a body, POST with one, unless named. */
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  /** A lab that stops answering fails the call; upgrades with --wait hold a request for minutes. */
  timeoutMs?: number;
}

export async function callLabApi<T>(apiUrl: string, path: string, call: LabApiCall = {}): Promise<T> {
  const response = await fetch(`${apiUrl}${path}`, {
    method: call.method ?? (call.body === undefined ? 'GET' : 'POST'),
    signal: AbortSignal.timeout(call.timeoutMs ?? 600_000),
    ...(call.body !== undefined
      ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(call.body) }
      : {}),
  });
  const answer = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new LabApiError(answer.error ?? `the lab answered HTTP ${response.status}`);
  return answer;
}
