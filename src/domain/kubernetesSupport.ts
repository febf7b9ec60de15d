import { compareMinors, minorOf, type Version } from './version.js';

/** The Kubernetes minors one Talos minor can run, inclusive ("1.30" to "1.35"). */
export interface KubernetesRange {
  min: string;
  max: string;
}

/**
 * Talos minor -> supported Kubernetes minors, as Talos's own compatibility package has them (1.14's row
 * from v1.14.1; its docs say 1.33, the code says 1.32). No row is guessed: a Talos minor without one
 * is named in the inventory (versions.kubernetesSupport) until this table knows it.
 */
export const DEFAULT_KUBERNETES_SUPPORT: Readonly<Record<string, KubernetesRange>> = {
  '1.8': { min: '1.26', max: '1.31' },
  '1.9': { min: '1.27', max: '1.32' },
  '1.10': { min: '1.28', max: '1.33' },
  '1.11': { min: '1.29', max: '1.34' },
  '1.12': { min: '1.30', max: '1.35' },
  '1.13': { min: '1.31', max: '1.36' },
  '1.14': { min: '1.32', max: '1.37' },
};

/** The support table with an inventory's additions (a new Talos minor before this table knows it). */
export function kubernetesSupportTable(
  overrides: Readonly<Record<string, KubernetesRange>> = {},
): Readonly<Record<string, KubernetesRange>> {
  return { ...DEFAULT_KUBERNETES_SUPPORT, ...overrides };
}

export function supportedRange(
  table: Readonly<Record<string, KubernetesRange>>,
  talos: Version,
): KubernetesRange | undefined {
  return table[minorOf(talos)];
}

export function isKubernetesSupported(range: KubernetesRange, kubernetes: Version): boolean {
  const minor = minorOf(kubernetes);
  return compareMinors(minor, range.min) >= 0 && compareMinors(minor, range.max) <= 0;
}

export function describeRange(range: KubernetesRange): string {
  return `${range.min}–${range.max}`;
}
