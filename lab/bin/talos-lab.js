#!/usr/bin/env node
// The lab's command, run from the TypeScript sources like talos-upgrade (bin/lib/entryBundle.js).
import { importEntry } from '../../bin/lib/entryBundle.js';

await importEntry('lab/cli.ts');
