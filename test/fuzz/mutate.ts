import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value inside a document, so a mutation can aim anywhere in it. */
function paths(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) return [prefix, ...value.flatMap((v, i) => paths(v, [...prefix, i]))];
  if (value && typeof value === 'object')
    return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))];
  return [prefix];
}

export interface Mutation {
  kind: 'delete' | 'replace' | 'rename';
  pick: number;
  value: Json;
  key: string;
}

/** Deletes, replaces (by any JSON value) or renames one field somewhere in a copy of the document. */
export function mutate(doc: Json, mutation: Mutation): Json {
  const copy = structuredClone(doc);
  const all = paths(copy).filter((p) => p.length > 0);
  if (all.length === 0) return mutation.value;
  const path = all[mutation.pick % all.length] ?? [];
  const parent = path
    .slice(0, -1)
    .reduce<Json>((v, k) => (v as Record<string | number, Json>)[k] as Json, copy);
  const last = path.at(-1) ?? '';
  const container = parent as Record<string | number, Json>;
  if (mutation.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete container[last];
  } else if (mutation.kind === 'replace') container[last] = mutation.value;
  else if (!Array.isArray(parent)) {
    container[mutation.key] = container[last] as Json;
    delete container[last];
  }
  return copy;
}

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('delete', 'replace', 'rename'),
  pick: fc.nat(),
  value: fc.jsonValue() as fc.Arbitrary<Json>,
  key: fc.string({ maxLength: 12 }),
});

/** Text edits: at a position, cut some characters and insert others. */
export const textEdits = (inserts: fc.Arbitrary<string>, maxCut = 40) =>
  fc.array(fc.record({ at: fc.nat(), cut: fc.nat(maxCut), insert: inserts }), { minLength: 1, maxLength: 6 });

export function applyEdits(text: string, edits: Array<{ at: number; cut: number; insert: string }>): string {
  return edits.reduce((t, e) => {
    const at = e.at % (t.length + 1);
    return t.slice(0, at) + e.insert + t.slice(at + e.cut);
  }, text);
}
