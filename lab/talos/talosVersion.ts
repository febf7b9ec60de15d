/** Whether Talos `version` ("1.12.0") is at least major.minor[.patch]: where Talos's behaviour changed. */
export function atLeast(version: string, major: number, minor: number, patch = 0): boolean {
  const [a = 0, b = 0, c = 0] = version
    .replace(/^v/, '')
    .split('.')
    .map((p) => Number.parseInt(p, 10));
  if (a !== major) return a > major;
  if (b !== minor) return b > minor;
  return c >= patch;
}
