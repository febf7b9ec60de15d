import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import {
  diffTerraformVersions,
  formatInventoryIssues,
  parseInventory,
  readTerraformVersions,
  VersionError,
} from '../../src/domain/index.js';
import { applyEdits, mutate, mutation, textEdits, type Json } from './mutate.js';

const EXAMPLES = ['prox-ops', 'atlas', 'portkey'].map((name) =>
  readFileSync(new URL(`../../examples/${name}.yaml`, import.meta.url), 'utf8'),
);

/** A parse that failed must say where and what, in the form the CLI prints — never a stack trace. */
function expectExplained(text: string): void {
  const result = parseInventory(text);
  if (result.ok) return;
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    expect(issue.path.length).toBeGreaterThan(0);
    expect(issue.message.length).toBeGreaterThan(0);
  }
  const printed = formatInventoryIssues('inventory.yaml', result.issues);
  for (const issue of result.issues) expect(printed).toContain(`${issue.path}: `);
  expect(printed).not.toMatch(/\n\s+at /);
}

describe('fuzzing the inventory parser', () => {
  it('never throws on mutated documents, and names the field path of every problem', () => {
    fc.assert(
      fc.property(
        fc.nat(EXAMPLES.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, ms) => {
          let doc = parse(EXAMPLES[which] ?? '') as Json;
          for (const m of ms) doc = mutate(doc, m);
          expectExplained(stringify(doc));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('never throws on damaged YAML text', () => {
    fc.assert(
      fc.property(fc.nat(EXAMPLES.length - 1), textEdits(fc.string({ maxLength: 8 })), (which, edits) =>
        expectExplained(applyEdits(EXAMPLES[which] ?? '', edits)),
      ),
      { numRuns: 1500 },
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => stringify(v)),
        ),
        (text) => expectExplained(text),
      ),
      { numRuns: 1000 },
    );
  });
});

const VARIABLES_TF = `variable "talos_version" {
  description = "Talos version; Renovate bumps it"
  type        = string
  default     = "1.11.3"
}

variable "kubernetes_version" {
  type    = string
  default = "1.34.1"
}

locals {
  controller_schematic_id = "366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2"
  worker_schematic_id     = "990731763242a6b3cf735e49d0f550ce4068b4d0e7f4dfbb49a31799b698877e"
}
`;

/** Reading a damaged variables.tf either works or fails with a VersionError naming the variable. */
function readOrExplain(read: () => unknown): void {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(VersionError);
    // A malformed value, one variable with two values (Renovate would bump both), or a misnamed one.
    expect((error as Error).message).toMatch(
      /^(talos_version|kubernetes_version) ("|has \d+ different values|is not in the file)/,
    );
  }
}

describe('fuzzing the variables.tf reader', () => {
  const edits = textEdits(
    fc.oneof(
      fc.string({ maxLength: 10 }),
      fc.constantFrom('"', '{', '}', '#', '//', '/*', '*/', '\\', '\n', 'default = "', 'talos_version = "v'),
    ),
    12,
  );
  const damage = applyEdits;

  it('never crashes on damaged files; a bad version names its variable', () => {
    fc.assert(
      fc.property(edits, (list) => readOrExplain(() => readTerraformVersions(damage(VARIABLES_TF, list)))),
      { numRuns: 2000 },
    );
  });

  it('comparing two damaged files never crashes either', () => {
    fc.assert(
      fc.property(edits, edits, (a, b) =>
        readOrExplain(() => diffTerraformVersions(damage(VARIABLES_TF, a), damage(VARIABLES_TF, b))),
      ),
      { numRuns: 1000 },
    );
  });

  it('never crashes on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => readOrExplain(() => readTerraformVersions(text))),
      { numRuns: 1000 },
    );
  });
});
