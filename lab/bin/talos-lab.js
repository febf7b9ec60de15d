#!/usr/bin/env node
// The lab's command, run from the TypeScript sources like talos-upgrade (bin/lib/entryBundle.js).
import { endQuietlyOnClosedPipe } from '../../bin/lib/closedPipe.js';
import { importEntry } from '../../bin/lib/entryBundle.js';

endQuietlyOnClosedPipe();

await importEntry('lab/cli.ts');
