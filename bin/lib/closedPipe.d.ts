// Types of closedPipe.js (plain JavaScript, like the entry loader that runs before any TypeScript).
export function endQuietlyOnClosedPipe(): void;
