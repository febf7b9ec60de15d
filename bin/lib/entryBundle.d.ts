// Types of entryBundle.js, which stays plain JavaScript: it runs before any TypeScript can.
export function bundlesOf(entry: string): RegExp;
export function entryBundlePath(entry: string): Promise<string | undefined>;
export function importEntry(entry: string): Promise<Record<string, unknown>>;
