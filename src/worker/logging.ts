import type { Logger } from 'pino';
import { DefaultLogger, type LogLevel } from '@temporalio/worker';

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal runtime's logger (SDK, workflow and activity logs) as structured pino lines, so the
 * worker writes one JSON format with workflow ids, activity types and node names as fields.
 */
export function temporalLogger(logger: Logger): DefaultLogger {
  const level = (logger.level.toUpperCase() === 'FATAL' ? 'ERROR' : logger.level.toUpperCase()) as LogLevel;
  return new DefaultLogger(level in PINO_LEVEL ? level : 'INFO', (entry) => {
    logger[PINO_LEVEL[entry.level]](entry.meta ?? {}, entry.message);
  });
}
