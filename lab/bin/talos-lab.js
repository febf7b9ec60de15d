#!/usr/bin/env node
// The lab's command, run from the TypeScript sources through tsx like talos-upgrade.
import { register } from 'tsx/esm/api';

register();
await import('../cli.ts');
