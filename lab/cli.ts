import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { PRESETS, isPreset } from './cluster/presets.js';
import { callLabApi, LabApiError, type LabApiCall } from './daemon/client.js';
import { readDaemonInfo, type DaemonInfo } from './daemon/daemonFile.js';
import type { LabReport } from './daemon/monitor.js';
import type { StatusRow } from './daemon/statusRows.js';
import { FAULT_KINDS, isFaultKind } from './state/faults.js';
import { INITIAL_TALOS, LAB_RELEASES } from './state/labState.js';
import { isTerraformShape, TERRAFORM_SHAPES } from './repo/terraformWorkspace.js';
import { table } from './table.js';
import { initArguments } from './userFiles.js';
import { ensureTools, PROJECT_ROOT } from './tools.js';

const DAEMON = fileURLToPath(new URL('./bin/talos-lab-daemon.js', import.meta.url));
const DEFAULT_DIR = process.env.TALOS_LAB_DIR ?? join(PROJECT_ROOT, '.lab');

class LabCliError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function runningLab(dir: string): Promise<DaemonInfo> {
  const info = await readDaemonInfo(dir);
  if (!info || info.status !== 'ready' || !info.apiUrl || !alive(info.pid)) {
    throw new LabCliError(`no talos lab is running in ${dir} (start one with: talos-lab up)`);
  }
  return info;
}

/** The daemon's API; what it refuses is the command's error, printed without a stack. */
async function api<T>(info: DaemonInfo, path: string, call?: LabApiCall): Promise<T> {
  try {
    return await callLabApi<T>(info.apiUrl ?? '', path, call);
  } catch (error) {
    throw error instanceof LabApiError ? new LabCliError(error.message) : error;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function up(options: {
  preset: string;
  dir: string;
  rebootSeconds: string;
  vmBootSeconds: string;
  imagePullSeconds: string;
  installSeconds: string;
  templateBuildSeconds: string;
  kubeletReadySeconds: string;
  nodeGraceSeconds: string;
  talos: string;
  maxUnavailableWorkers?: string;
  fleet?: number;
  terraformShape: string;
}): Promise<void> {
  const dir = resolve(options.dir);
  if (!isPreset(options.preset))
    throw new LabCliError(`unknown preset "${options.preset}" (known: ${PRESETS.join(', ')})`);
  if (!isTerraformShape(options.terraformShape))
    throw new LabCliError(
      `unknown Terraform shape "${options.terraformShape}" (known: ${TERRAFORM_SHAPES.join(', ')})`,
    );
  if (!LAB_RELEASES.includes(options.talos))
    throw new LabCliError(`the lab serves no Talos ${options.talos} (it serves ${LAB_RELEASES.join(', ')})`);
  const previous = await readDaemonInfo(dir);
  if (previous && alive(previous.pid) && previous.status !== 'stopped' && previous.status !== 'failed') {
    throw new LabCliError(
      `a lab (${previous.preset}) is already running in ${dir}; run talos-lab down first`,
    );
  }
  const started = Date.now();
  // Build the tools in the foreground: the first build takes minutes and shows its progress here.
  await ensureTools('kube', 'kwok', 'terraform');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const logFile = join(dir, 'daemon.log');
  const log = openSync(logFile, 'a');
  const args = [
    DAEMON,
    '--dir',
    dir,
    '--preset',
    options.preset,
    '--reboot-seconds',
    options.rebootSeconds,
    '--vm-boot-seconds',
    options.vmBootSeconds,
    '--image-pull-seconds',
    options.imagePullSeconds,
    '--install-seconds',
    options.installSeconds,
    '--template-build-seconds',
    options.templateBuildSeconds,
    '--kubelet-ready-seconds',
    options.kubeletReadySeconds,
    '--node-grace-seconds',
    options.nodeGraceSeconds,
    '--talos',
    options.talos,
  ];
  if (options.maxUnavailableWorkers) args.push('--max-unavailable-workers', options.maxUnavailableWorkers);
  if (options.fleet) args.push('--fleet', String(options.fleet));
  args.push('--terraform-shape', options.terraformShape);
  // Its own process group, so `down` can stop the daemon and every server it started at once.
  const daemon = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  daemon.unref();
  let shown = 0;
  for (;;) {
    await sleep(250);
    const lines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('[lab]'));
    for (const line of lines.slice(shown)) console.error(line);
    shown = lines.length;
    const info = await readDaemonInfo(dir);
    if (info?.status === 'ready') {
      console.log(
        `\ntalos lab "${options.preset}" is up in ${((Date.now() - started) / 1000).toFixed(1)}s (${dir})`,
      );
      console.log(
        options.fleet
          ? `  ${options.fleet} clusters, each in ${join(dir, 'clusters', '<name>')} (listed in ${join(dir, 'fleet.json')})\n  kubeconfig:  ${info.kubeconfig}\n  env file:    ${info.envFile}\n  registry:    ${info.registryUrl}\n  one cluster: talos-lab status --dir ${join(dir, 'clusters', '<name>')}`
          : `  kubeconfig:  ${info.kubeconfig}\n  talosconfig: ${info.talosconfig}\n  env file:    ${info.envFile}\n  repository:  ${info.repository}\n  registry:    ${info.registryUrl}`,
      );
      // The product's configuration is the user's to write: the lab says how, not what.
      if (!options.fleet)
        console.log(
          `\n  an inventory, as a user writes it: talos-upgrade init ${initArguments(dir, {
            kubeconfig: info.kubeconfig ?? '',
            talosconfig: info.talosconfig ?? '',
          }).join(' ')}`,
        );
      console.log(`\n  talos-lab status    talos-lab fault add <kind>    talos-lab report    talos-lab down`);
      return;
    }
    if (
      info?.status === 'failed' ||
      daemon.exitCode !== null ||
      !alive(daemon.pid ?? -1) ||
      Date.now() - started > 600_000 + (options.fleet ?? 0) * 20_000
    ) {
      if (daemon.pid) killGroup(daemon.pid, 'SIGKILL');
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n');
      throw new LabCliError(
        `the lab failed to start${info?.error ? `: ${info.error}` : ''}\n--- ${logFile} (last lines) ---\n${tail}`,
      );
    }
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

async function down(options: { dir: string }): Promise<void> {
  const dir = resolve(options.dir);
  const info = await readDaemonInfo(dir);
  if (!info || !alive(info.pid)) {
    console.log(`no talos lab is running in ${dir}`);
    return;
  }
  if (info.apiUrl) await api(info, '/shutdown', { method: 'POST' }).catch(() => undefined);
  else killGroup(info.pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (alive(info.pid) && Date.now() < deadline) await sleep(200);
  // Whatever is left of the group (a server that ignored SIGTERM) goes now.
  killGroup(info.pid, 'SIGKILL');
  console.log(`talos lab in ${dir} stopped`);
}

async function status(options: { dir: string; json?: boolean }): Promise<void> {
  const info = await runningLab(resolve(options.dir));
  const body = await api<{ cluster: string; rows: StatusRow[]; faults: unknown[] }>(info, '/status');
  if (options.json) {
    console.log(JSON.stringify(body, null, 2));
    return;
  }
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  process.stdout.write(
    table(
      ['NODE', 'ROLE', 'IP', 'TALOS', 'KUBERNETES', 'VM', 'READY', 'CORDONED', 'PODS', 'NICS'],
      body.rows.map((r) => [
        r.node,
        r.role,
        r.ip,
        `v${r.talos}`,
        r.kubernetes === '-' ? '-' : `v${r.kubernetes}`,
        r.vm,
        yes(r.ready),
        yes(r.cordoned),
        String(r.pods),
        r.nics,
      ]),
    ),
  );
  if (body.faults.length) console.log(`\nactive faults: ${body.faults.length} (talos-lab fault list)`);
}

function formatReport(report: LabReport): string {
  const lines = [`cluster ${report.cluster}: ${report.ok ? 'all invariants held' : 'INVARIANTS BROKEN'}`];
  lines.push(`violations: ${report.violations.length}`);
  for (const v of report.violations) lines.push(`  ${v.at}  ${v.invariant}: ${v.detail}`);
  lines.push(`cordoned at the end: ${report.finalChecks.cordoned.join(', ') || 'none'}`);
  lines.push(
    `versions: ${Object.entries(report.finalChecks.versions)
      .map(([v, nodes]) => `${v} (${nodes.length})`)
      .join(', ')}`,
  );
  if (report.finalChecks.notRunning.length)
    lines.push(`not running: ${report.finalChecks.notRunning.join(', ')}`);
  const rebuilt = report.vms.filter((vm) => vm.destroyed > 0);
  lines.push(
    `VMs destroyed/created: ${rebuilt.map((vm) => `${vm.node} ${vm.destroyed}/${vm.created}`).join(', ') || 'none'}`,
  );
  lines.push(`timeline: ${report.timeline.length} events (--json for all)`);
  return lines.join('\n');
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return n;
}

export function buildLabCli(): Command {
  const program = new Command('talos-lab')
    .description('A local Talos-on-Proxmox cluster that the real talos-upgrade activities drive.')
    .exitOverride();
  const dirOption = ['--dir <dir>', 'the lab directory', DEFAULT_DIR] as const;
  program
    .command('up')
    .description(
      'start the lab: Kubernetes control plane, kwok nodes, Terraform state, the Talos API of every node, registry',
    )
    .option('--preset <name>', `the cluster to build (${PRESETS.join(', ')})`, 'prox-ops')
    .option(...dirOption)
    .option('--reboot-seconds <s>', 'how long a Talos reboot keeps a node down', '3')
    .option('--vm-boot-seconds <s>', 'how long a new VM takes to boot', '3')
    .option('--image-pull-seconds <s>', 'how long a node takes to pull an installer image', '2')
    .option('--install-seconds <s>', 'how long the installer takes to write the other boot slot', '1')
    .option('--template-build-seconds <s>', 'how long a VM template takes to build', '0')
    // Real: 30-90 s to Ready after a boot, 50 s of node-monitor-grace-period; scaled as the reboot is.
    .option('--kubelet-ready-seconds <s>', 'how long a booted node takes to turn Ready in Kubernetes', '1')
    .option(
      '--node-grace-seconds <s>',
      'how long a Node stays Ready after its kubelet stopped (a reboot, a destroyed VM)',
      '2',
    )
    .option(
      '--talos <version>',
      `the Talos version the nodes start at (${LAB_RELEASES.join(', ')})`,
      INITIAL_TALOS,
    )
    .option(
      '--max-unavailable-workers <n>',
      "what the invariant monitor allows (default: the preset's maxUnavailableWorkers)",
    )
    .option(
      '--fleet <n>',
      'host n pets-only copies of the preset (<preset>-01 …) on one API server, for load tests',
      positiveInt,
    )
    .option(
      '--terraform-shape <shape>',
      `how the repository's Terraform is laid out (${TERRAFORM_SHAPES.join(', ')})`,
      'module-per-node',
    )
    .action(up);
  program
    .command('down')
    .description('stop the lab and every process it started')
    .option(...dirOption)
    .action(down);
  program
    .command('status')
    .description('a table of the nodes')
    .option(...dirOption)
    .option('--json', 'print JSON')
    .action(status);
  const fault = program.command('fault').description('inject, list or clear faults');
  fault
    .command('add')
    .argument('<kind>', Object.keys(FAULT_KINDS).join(' | '))
    .option('--node <node>', 'the node it applies to (name or IP); default: any node')
    .option('--times <k>', 'how many times a one-shot fault fires', positiveInt)
    .option(
      '--version <v>',
      'image-missing: only this Talos version; kubernetes-image-missing: only this Kubernetes version; dns-broken, network-broken, pod-crashloop, pod-not-ready, gpu-driver-fails, flux-not-ready, argocd-degraded: while the node runs it',
    )
    .option(
      '--seconds <s>',
      'terraform-lock: how long the lock is held; join-delayed: how much later the node joins; promotion-delayed: how long the new member stays a learner; ceph-slow-recovery: how long the placement groups recover',
      positiveInt,
    )
    .option(
      '--daemon-set <name>',
      'pod-crashloop, pod-not-ready: the kube-system DaemonSet whose pod on the node fails',
    )
    .option(...dirOption)
    .action(
      async (
        kind: string,
        options: {
          node?: string;
          times?: number;
          version?: string;
          seconds?: number;
          daemonSet?: string;
          dir: string;
        },
      ) => {
        if (!isFaultKind(kind))
          throw new LabCliError(
            `unknown fault kind "${kind}"; known:\n${Object.entries(FAULT_KINDS)
              .map(([k, v]) => `  ${k.padEnd(24)} ${v}`)
              .join('\n')}`,
          );
        const info = await runningLab(resolve(options.dir));
        const { dir: _dir, ...rest } = options;
        const { fault: added } = await api<{ fault: { id: number } }>(info, '/faults', {
          method: 'POST',
          body: { kind, ...rest },
        });
        console.log(
          `fault #${added.id} added: ${kind}${options.node ? ` on ${options.node}` : ''} — ${FAULT_KINDS[kind]}`,
        );
      },
    );
  fault
    .command('list')
    .option(...dirOption)
    .action(async (options: { dir: string }) => {
      const info = await runningLab(resolve(options.dir));
      const { faults } = await api<{
        faults: Array<{ id: number; kind: string; node?: string; remaining?: number }>;
      }>(info, '/faults');
      if (!faults.length) console.log('no active faults');
      else
        process.stdout.write(
          table(
            ['ID', 'KIND', 'NODE', 'REMAINING'],
            faults.map((f) => [
              String(f.id),
              f.kind,
              f.node ?? 'any',
              f.remaining === undefined ? 'until cleared' : String(f.remaining),
            ]),
          ),
        );
    });
  fault
    .command('clear')
    .argument('[kind]', 'clear only this kind')
    .option(...dirOption)
    .action(async (kind: string | undefined, options: { dir: string }) => {
      const info = await runningLab(resolve(options.dir));
      const { cleared } = await api<{ cleared: unknown[] }>(info, '/faults', {
        method: 'DELETE',
        body: kind ? { kind } : {},
      });
      console.log(`cleared ${cleared.length} fault(s)`);
    });
  program
    .command('config')
    .description("change a running lab's invariant monitor (as a run's policy changes)")
    .option(...dirOption)
    .option('--max-unavailable-workers <n>', 'workers that may be out of service at once')
    .action(async (options: { dir: string; maxUnavailableWorkers?: string }) => {
      const body: { maxUnavailableWorkers?: number } = {};
      if (options.maxUnavailableWorkers !== undefined) {
        const n = options.maxUnavailableWorkers;
        if (!/^\d+$/.test(n))
          throw new LabCliError(`--max-unavailable-workers takes a whole number, not "${n}"`);
        body.maxUnavailableWorkers = Number(n);
      }
      const config = await api<{ maxUnavailableWorkers: number }>(
        await runningLab(resolve(options.dir)),
        '/config',
        {
          method: 'POST',
          body,
        },
      );
      console.log(`max unavailable workers: ${config.maxUnavailableWorkers}`);
    });
  program
    .command('report')
    .description('the invariant monitor: violations, final checks and the timeline')
    .option(...dirOption)
    .option('--json', 'print the whole report as JSON')
    .action(async (options: { dir: string; json?: boolean }) => {
      const report = await api<LabReport>(await runningLab(resolve(options.dir)), '/report');
      console.log(options.json ? JSON.stringify(report, null, 2) : formatReport(report));
    });
  return program;
}

try {
  await buildLabCli().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? 0 : 2;
  else if (error instanceof LabCliError) {
    console.error(`error: ${error.message}`);
    process.exitCode = 1;
  } else {
    console.error('talos-lab failed unexpectedly:', error);
    process.exitCode = 1;
  }
}
