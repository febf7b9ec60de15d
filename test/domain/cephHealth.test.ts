import { describe, expect, it } from '@jest/globals';
import { cephVerdict, type CephStatusView } from '../../src/domain/index.js';

const warn = (...codes: string[]): CephStatusView => ({
  health: 'HEALTH_WARN',
  details: Object.fromEntries(
    codes.map((code) => [code, { severity: 'HEALTH_WARN', message: `${code} message` }]),
  ),
});

describe("what a CephCluster's status says to a health gate", () => {
  it('HEALTH_OK passes', () => {
    expect(cephVerdict({ health: 'HEALTH_OK', details: {} })).toEqual({ state: 'ok' });
  });

  it("an OSD host's reboot is a recovery in progress: OSDs down, noout, degraded and peering PGs, a mon out, slow ops", () => {
    for (const codes of [
      ['OSD_DOWN', 'OSD_HOST_DOWN', 'OSD_FLAGS', 'PG_DEGRADED'],
      ['PG_DEGRADED'],
      ['PG_AVAILABILITY', 'SLOW_OPS'],
      ['MON_DOWN'],
      ['OSDMAP_FLAGS'],
    ])
      expect([codes, cephVerdict(warn(...codes)).state]).toEqual([codes, 'recovering']);
    expect(cephVerdict(warn('PG_DEGRADED'))).toEqual({
      state: 'recovering',
      why: 'HEALTH_WARN (PG_DEGRADED: PG_DEGRADED message)',
    });
  });

  it('a check that does not clear by itself fails, even beside a recovery', () => {
    expect(cephVerdict(warn('OSD_NEARFULL')).state).toBe('failed');
    expect(cephVerdict(warn('PG_DEGRADED', 'RECENT_CRASH')).state).toBe('failed');
    expect(cephVerdict(warn()).state).toBe('failed');
  });

  it('HEALTH_ERR fails, whatever its checks', () => {
    expect(
      cephVerdict({
        health: 'HEALTH_ERR',
        details: { PG_DAMAGED: { severity: 'HEALTH_ERR', message: 'x' } },
      }),
    ).toMatchObject({ state: 'failed', why: 'HEALTH_ERR (PG_DAMAGED: x)' });
  });

  it("Rook's own error (ceph status failed, severity Urgent) is read again, not taken as the storage's health", () => {
    expect(
      cephVerdict({
        health: 'HEALTH_ERR',
        details: { error: { severity: 'Urgent', message: 'failed to get status. timed out' } },
      }).state,
    ).toBe('recovering');
  });

  it('no status yet fails, and says so', () => {
    expect(cephVerdict(undefined)).toEqual({ state: 'failed', why: 'no health reported' });
  });
});
