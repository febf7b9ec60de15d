/**
 * Splits talosctl's `-o json` output — indented objects one after another, not an array — into
 * the objects, by tracking brace depth outside strings.
 */
export function parseJsonStream<T = unknown>(text: string): T[] {
  const objects: T[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}') {
      depth--;
      if (depth === 0 && start >= 0) {
        objects.push(JSON.parse(text.slice(start, i + 1)) as T);
        start = -1;
      }
    }
  }
  return objects;
}

/** Parses a talosctl table (columns separated by 2+ spaces) into records keyed by header. */
export function parseTable(text: string): Array<Record<string, string>> {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0];
  if (!header) return [];
  // Column starts come from the header, since values like "11 MB (45.83%)" contain single spaces.
  const starts: Array<{ name: string; at: number }> = [];
  const re = /\S+(?: \S+)*/g;
  let match: RegExpExecArray | null;
  while ((match = re.exec(header))) starts.push({ name: match[0], at: match.index });
  return lines.slice(1).map((line) => {
    const row: Record<string, string> = {};
    starts.forEach((col, index) => {
      const end = starts[index + 1]?.at ?? line.length;
      row[col.name] = line.slice(col.at, end).trim();
    });
    return row;
  });
}
