// Called by the lab's Terraform provisioners: create or destroy a simulated Proxmox VM, or build a
// template, by asking the lab daemon. Usage: lab-vm.js --lab-dir <dir> create|destroy|build-template <name> [version]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const dirAt = args.indexOf('--lab-dir');
const dir = dirAt >= 0 ? args.splice(dirAt, 2)[1] : process.env.TALOS_LAB_DIR;
const [action, name, version] = args;
const routes = { create: '/vm/create', destroy: '/vm/destroy', 'build-template': '/template/build' };
if (!dir || !routes[action] || !name) {
  process.stderr.write('usage: lab-vm.js --lab-dir <dir> create|destroy|build-template <name> [version]\n');
  process.exit(2);
}
const { apiUrl } = JSON.parse(readFileSync(join(dir, 'daemon.json'), 'utf8'));
const body = action === 'build-template' ? { template: name, version } : { node: name, version };
const response = await fetch(`${apiUrl}${routes[action]}`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});
const result = await response.json();
if (!response.ok) {
  process.stderr.write(`lab-vm ${action} ${name}: ${result.error}\n`);
  process.exit(1);
}
process.stdout.write(`${result.message}\n`);
