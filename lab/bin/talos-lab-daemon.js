#!/usr/bin/env node
// The lab's daemon, which `talos-lab up` starts in the background; its arguments are read by
// lab/daemon/main.ts. A file of its own so that it loads like every other entry (bin/lib/entryBundle.js).
import { importEntry } from '../../bin/lib/entryBundle.js';

await importEntry('lab/daemon/main.ts');
