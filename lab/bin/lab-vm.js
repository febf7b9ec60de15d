// Called by the lab's Terraform provisioners where curl is missing (lab-vm.sh is the usual one):
// create or destroy a simulated Proxmox VM, or build a template, by asking the lab daemon's API.
// Usage: lab-vm.js <api-url> create|destroy|build-template <name> [version] [schematic]
const [url, action, name, version, schematic] = process.argv.slice(2);
const routes = { create: '/vm/create', destroy: '/vm/destroy', 'build-template': '/template/build' };
if (!url || !routes[action] || !name) {
  process.stderr.write(
    'usage: lab-vm.js <api-url> create|destroy|build-template <name> [version] [schematic]\n',
  );
  process.exit(2);
}
const body = action === 'build-template' ? { template: name, version } : { node: name, version, schematic };
let response;
try {
  response = await fetch(`${url}${routes[action]}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
} catch {
  process.stderr.write(`lab-vm ${action} ${name}: the lab at ${url} did not answer\n`);
  process.exit(1);
}
const result = await response.json();
if (!response.ok) {
  process.stderr.write(`lab-vm ${action} ${name}: ${result.error}\n`);
  process.exit(1);
}
process.stdout.write(`${result.message}\n`);
