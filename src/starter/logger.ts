import { pino, type Logger } from 'pino';

/** Keys whose values never reach a log line, wherever they appear one level down. */
const SECRET_KEYS = [
  'apiKey',
  'token',
  'password',
  'secret',
  'authorization',
  'signature',
  'key',
  'crt',
  'url',
];

/** Structured JSON logs for the long-running processes (worker, webhook server). */
export function createLogger(service: string, level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service },
    redact: { paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`]), censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
