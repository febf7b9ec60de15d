/**
 * The regex managers of the Renovate preset the project ships (renovate/talos-upgrade.json). The
 * product reads variables.tf with exactly these matchStrings and Renovate's semantics, so the value
 * Renovate bumps is the value the product reads; test/renovate checks both against the real Renovate.
 *
 * Every pattern captures the variable's name as `depType` (Renovate keeps it on the dependency, and it
 * tells two clusters in one file apart) and the value as `currentValue` (`currentDigest` for schematic
 * ids). A leading `v` stays outside the value, so Renovate's replacement keeps the file's own style.
 * Patterns start at a line start (`(?:^|\n)`: Renovate compiles with the `g` flag only, so `^` is the
 * start of the file), which keeps commented-out lines out, and use only what re2 accepts.
 */

const NAME = '[A-Za-z0-9_-]*';
const VALUE = '"v?(?<currentValue>[^"\\n]+)"';
const DIGEST = '"(?<currentDigest>[0-9a-f]{64})"';

/** `talos_version = "1.11.3"` (a tfvars file, locals, a module argument). */
const assignment = (suffix: string, value: string) =>
  `(?:^|\\n)[ \\t]*(?<depType>${NAME}${suffix})[ \\t]*=[ \\t]*${value}`;

/**
 * `variable "talos_version" { ... default = "1.11.3" ... }`, also on one line; nested blocks before
 * the default (a validation block) are passed over one level deep.
 */
const block = (suffix: string, value: string) =>
  `(?:^|\\n)[ \\t]*variable[ \\t]+"(?<depType>${NAME}${suffix})"[ \\t]*\\{(?:[^{}]|\\{[^{}]*\\})*?\\bdefault[ \\t]*=[ \\t]*${value}`;

/** `# renovate: datasource=github-releases depName=siderolabs/talos` above any `name = "1.11.3"`. */
const annotation = (depName: string) =>
  `(?:^|\\n)[ \\t]*(?:#|//)[ \\t]*renovate:[ \\t]*datasource=[^ \\t\\n]+[ \\t]+depName=${depName.replace(/[.]/g, '\\$&')}(?:[ \\t\\r][^\\n]*)?\\n[ \\t]*(?<depType>[A-Za-z0-9_-]+)[ \\t]*=[ \\t]*${VALUE}`;

export const RENOVATE_DEPENDENCIES = {
  talos: 'siderolabs/talos',
  kubernetes: 'kubernetes/kubernetes',
  schematic: 'factory.talos.dev/installer',
} as const;

/** matchStrings per value the product reads; the preset's managers carry the same lists. */
export const DEFAULT_MATCH_STRINGS = {
  talos: [
    assignment('talos_version', VALUE),
    block('talos_version', VALUE),
    annotation(RENOVATE_DEPENDENCIES.talos),
  ],
  kubernetes: [
    assignment('kubernetes_version', VALUE),
    block('kubernetes_version', VALUE),
    annotation(RENOVATE_DEPENDENCIES.kubernetes),
  ],
  controllerSchematic: [
    assignment('controller_schematic_id', DIGEST),
    block('controller_schematic_id', DIGEST),
  ],
  workerSchematic: [assignment('worker_schematic_id', DIGEST), block('worker_schematic_id', DIGEST)],
};

export type VersionValue = keyof typeof DEFAULT_MATCH_STRINGS;

/** The variable each value is read from by default; an inventory names others (two clusters, one file). */
export const DEFAULT_VARIABLES: Record<VersionValue, string> = {
  talos: 'talos_version',
  kubernetes: 'kubernetes_version',
  controllerSchematic: 'controller_schematic_id',
  workerSchematic: 'worker_schematic_id',
};

/** The named group that carries the value, per value: what Renovate's config validation requires. */
export const VALUE_GROUPS: Record<VersionValue, readonly string[]> = {
  talos: ['currentValue'],
  kubernetes: ['currentValue'],
  controllerSchematic: ['currentDigest', 'currentValue'],
  workerSchematic: ['currentDigest', 'currentValue'],
};

// re2, the engine of Renovate's releases, has no lookaround and no backreferences.
const RE2_REFUSES: Array<[RegExp, string]> = [
  [/\(\?<?[=!]/, 'lookahead or lookbehind'],
  [/\\[1-9]|\\k</, 'backreferences'],
];

/**
 * Why Renovate would refuse a matchString for this value, or undefined when it takes it: it must
 * compile as a JavaScript and re2 expression and name the group that carries the value.
 */
export function renovatePatternProblem(source: string, value: VersionValue): string | undefined {
  try {
    new RegExp(source, 'g');
  } catch (error) {
    return `not a regular expression Renovate can compile (${(error as Error).message})`;
  }
  for (const [construct, what] of RE2_REFUSES)
    if (construct.test(source)) return `Renovate's regex engine (re2) has no ${what}`;
  const groups = VALUE_GROUPS[value];
  if (!groups.some((group) => source.includes(`(?<${group}>`)))
    return `Renovate needs a named group ${groups.map((g) => `(?<${g}>...)`).join(' or ')} for the value`;
  return undefined;
}

export interface ExtractedValue {
  value: VersionValue;
  /** The variable's name from the `depType` group; undefined for a pattern without one. */
  variable?: string;
  text: string;
  /** 1-based line of the match's value, for messages. */
  line: number;
}

/**
 * Every value the matchStrings find, as Renovate's regex manager extracts them: each pattern
 * compiled with `g` alone and run over the whole text, comments included; an empty or blank value is
 * no dependency. Iterations are capped as Renovate caps them.
 */
export function extractValues(
  text: string,
  patterns: Readonly<Record<VersionValue, readonly string[]>>,
): ExtractedValue[] {
  const found: ExtractedValue[] = [];
  for (const value of Object.keys(patterns) as VersionValue[]) {
    for (const source of patterns[value]) {
      const regex = new RegExp(source, 'g');
      for (let i = 0; i < 10_000; i++) {
        const match = regex.exec(text);
        if (!match) break;
        const captured = match.groups?.currentValue ?? match.groups?.currentDigest;
        if (captured !== undefined && captured.trim() !== '') {
          const at = match.index + match[0].lastIndexOf(captured);
          found.push({
            value,
            ...(match.groups?.depType !== undefined ? { variable: match.groups.depType } : {}),
            text: captured,
            line: text.slice(0, at).split('\n').length,
          });
        }
        // Renovate does not step past an empty match: it finds the same one until its cap, nothing more.
        if (match[0] === '') break;
      }
    }
  }
  return found;
}
