import type { Strategy } from '../../src/domain/index.js';

export type Action = 'cancel' | 'terminate' | 'sigkill';
export type Role = 'controlplane' | 'worker';

/** When in a run the operator (or the machine) acts. */
export type Moment =
  /** A phase of the cluster run before any node: planning, the approval wait, pre-flight, templates. */
  | { at: 'phase'; phase: 'Planning' | 'AwaitingApproval' | 'PreFlight' | 'RebuildingTemplates' }
  /** A step of the node's run, by its position in the node's progress (1 = the first step). */
  | { at: 'step'; index: number; name: string }
  /** The node's world-changing step, the moment the lab records it (Talos upgrade, VM destroyed). */
  | { at: 'change' }
  /** The node's compensation, started by an operator's cancel at its world-changing step. */
  | { at: 'undo' };

export interface Cell {
  strategy: Strategy;
  role: Role;
  moment: Moment;
  action: Action;
}

export interface MatrixHop {
  strategy: Strategy;
  from: string;
  to: string;
  /** The lab's timeline event of the world-changing step. */
  change: string;
  cells: Array<Omit<Cell, 'strategy'>>;
}

export const ACTIONS: Action[] = ['cancel', 'terminate', 'sigkill'];

/** The gates every control plane passes first, and what it does once its new version is checked. */
const GATES = ['health gate', 'etcd quorum gate'];
const REJOIN = ['waiting for the etcd member', 'stabilising', 'uncordoning', 'health checks'];
const BOOT_CHECKS = ['checking NICs', 'checking the kernel command line'];

/** A control plane's steps on the pets path before Talos 1.13 (upgrade after the drain), in order. */
const PETS_CONTROLLER_STEPS = [
  ...GATES,
  'reading labels and taints',
  'checking the installer',
  'cordoning and draining',
  'etcd quorum gate before the reboot',
  'upgrading to 1.11.4',
  'waiting for Ready',
  ...BOOT_CHECKS,
  ...REJOIN,
];

/** A control plane's steps as cattle, in order. */
const CATTLE_CONTROLLER_STEPS = [
  ...GATES,
  'cordoning and draining',
  'backing up the Terraform state',
  'leaving etcd',
  'destroying the VM',
  'creating the VM at 1.12.0',
  'applying the machine config',
  'waiting for Ready',
  'applying patches',
  ...BOOT_CHECKS,
  ...REJOIN,
];

/** A control plane's cells at the named steps, each with its action. */
const stepCells = (steps: string[], cells: Array<[string, Action]>): Array<Omit<Cell, 'strategy'>> =>
  cells.map(([name, action]) => ({
    role: 'controlplane',
    moment: { at: 'step', index: steps.indexOf(name) + 1, name },
    action,
  }));

/**
 * The steps of a control plane's pets run where an action can land, an operator's cancel and a
 * terminated run taking turns; the worker dies during the drain and the wait for Ready, the two long
 * steps a restart must pick up in the middle. The world-changing step has its own cells below.
 *
 * The gates and reads before the drain are local activities inside one workflow task: no query sees
 * them, and an action meant for them lands at the drain (every run on CI and here, 2026-11-27 to
 * 11-30). So do the checks after Ready, at the stabilisation. A cancel and a terminate each are kept
 * there, as the cells of the etcd gate and the labels' read, of the etcd member's wait and the
 * stabilisation; the health gate's, the NICs' and the kernel command line's cells, which only
 * repeated them at a minute each, are gone. Not swept at all: after the uncordon a node has only local
 * steps left (some milliseconds), so an action meant for them lands after the node has finished on
 * the new version, and every later cell of the hop would find that controller already upgraded.
 */
const petsSteps = stepCells(PETS_CONTROLLER_STEPS, [
  ['etcd quorum gate', 'terminate'],
  ['reading labels and taints', 'cancel'],
  ['cordoning and draining', 'sigkill'],
  ['etcd quorum gate before the reboot', 'cancel'],
  ['waiting for Ready', 'sigkill'],
  ['waiting for the etcd member', 'cancel'],
  ['stabilising', 'terminate'],
]);

/** The steps cattle has and pets has not (the shared ones are swept on the pets hop). */
const cattleSteps = stepCells(CATTLE_CONTROLLER_STEPS, [
  ['backing up the Terraform state', 'cancel'],
  ['leaving etcd', 'terminate'],
  ['creating the VM at 1.12.0', 'sigkill'],
  ['applying the machine config', 'cancel'],
  ['waiting for Ready', 'terminate'],
  ['applying patches', 'cancel'],
  ['waiting for the etcd member', 'terminate'],
]);

const phaseCells = (...phases: Array<Extract<Moment, { at: 'phase' }>['phase']>) =>
  phases.flatMap((phase) =>
    ACTIONS.map((action) => ({
      role: 'controlplane' as const,
      moment: { at: 'phase' as const, phase },
      action,
    })),
  );

/** A terminated run and a dead worker while the node undoes its world-changing step. */
const undoCells: Array<Omit<Cell, 'strategy'>> = (['terminate', 'sigkill'] as const).map((action) => ({
  role: 'controlplane',
  moment: { at: 'undo' },
  action,
}));

/**
 * The world-changing step, for a controller and a worker. In this order the cluster stays on the hop's
 * start for every cell but the controller's SIGKILL (its node finishes on the new worker) and the
 * last, which completes the hop.
 */
const changeCells: Array<Omit<Cell, 'strategy'>> = (['controlplane', 'worker'] as const).flatMap((role) =>
  ACTIONS.map((action) => ({ role, moment: { at: 'change' as const }, action })),
);

/**
 * The hops in order, and their cells: the phases before any node and the steps first, while every
 * node is still on the hop's start; the cells that finish nodes last.
 */
export const MATRIX_HOPS: MatrixHop[] = [
  {
    strategy: 'pets',
    from: '1.11.3',
    to: '1.11.4',
    change: 'upgrade-started',
    cells: [
      ...phaseCells('Planning', 'AwaitingApproval', 'PreFlight'),
      ...petsSteps,
      ...undoCells,
      ...changeCells,
    ],
  },
  {
    strategy: 'cattle',
    from: '1.11.4',
    to: '1.12.0',
    change: 'vm-destroyed',
    cells: [...phaseCells('RebuildingTemplates'), ...cattleSteps, ...undoCells, ...changeCells],
  },
];

export function momentLabel(moment: Moment, change: string): string {
  switch (moment.at) {
    case 'phase':
      return moment.phase;
    case 'step':
      return `step ${moment.index}: ${moment.name}`;
    case 'change':
      return change;
    case 'undo':
      return 'undo';
  }
}
