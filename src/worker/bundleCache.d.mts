// Types of bundleCache.mjs, which stays plain JavaScript: the entry loader imports it before any
// TypeScript can run.
export function isUnwritable(error: unknown): boolean;
export function listFiles(root: string, trees: string[], keep: (path: string) => boolean): Promise<string[]>;
export function hashOf(root: string, files: string[], values: string[]): Promise<string>;
export function markUsed(path: string): Promise<boolean>;
export function writeWhole(path: string, write: (partial: string) => Promise<void>): Promise<void>;
export function pruneCache(dir: string, bundle: RegExp, keep?: number, now?: number): Promise<void>;
