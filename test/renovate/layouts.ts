import { DEFAULT_VARIABLES, type VersionValue } from '../../src/domain/index.js';

const CONTROLLER = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba';
const WORKER = 'b8e8fbbe1b520989e6c52c8dc8303070cb42095997e76e812fa8892393e1d176';

/** One cluster reading a layout: the variables it names, and what it must read. */
export interface Reader {
  variables?: Partial<Record<VersionValue, string>>;
  reads: {
    talosVersion?: string;
    kubernetesVersion?: string;
    controllerSchematicId?: string;
    workerSchematicId?: string;
  };
}

/** How users write their versions, each in its own file of one repository. */
export interface Layout {
  name: string;
  file: string;
  text: string;
  readers: Reader[];
}

const blocks = `variable "talos_version" {
  description = "Talos version of every node"
  type        = string
  validation {
    condition     = can(regex("^v?[0-9]+", var.talos_version))
    error_message = "must look like 1.11.3"
  }
  default = "1.11.3"
}

variable "kubernetes_version" {
  type    = string
  default = "1.34.1"
}

variable "controller_schematic_id" {
  type    = string
  default = "${CONTROLLER}"
}

variable "worker_schematic_id" {
  type    = string
  default = "${WORKER}"
}
`;

export const LAYOUTS: Layout[] = [
  {
    name: 'assignments (locals, tfvars style)',
    file: 'assignment/variables.tf',
    text: `locals {\n  talos_version      = "1.11.3"\n  kubernetes_version = "1.34.1"\n}\n`,
    readers: [{ reads: { talosVersion: '1.11.3', kubernetesVersion: '1.34.1' } }],
  },
  {
    name: 'variable blocks with a validation block and schematic ids',
    file: 'block/variables.tf',
    text: blocks,
    readers: [
      {
        reads: {
          talosVersion: '1.11.3',
          kubernetesVersion: '1.34.1',
          controllerSchematicId: CONTROLLER,
          workerSchematicId: WORKER,
        },
      },
    ],
  },
  {
    name: 'one-line variable blocks',
    file: 'one-liner/variables.tf',
    text: `variable "talos_version" { default = "1.12.0" }\nvariable "kubernetes_version" { default = "1.34.2" }\n`,
    readers: [{ reads: { talosVersion: '1.12.0', kubernetesVersion: '1.34.2' } }],
  },
  {
    name: 'CRLF line ends',
    file: 'crlf/variables.tf',
    text: 'talos_version = "1.11.4"\r\nkubernetes_version = "1.34.1"\r\n',
    readers: [{ reads: { talosVersion: '1.11.4', kubernetesVersion: '1.34.1' } }],
  },
  {
    name: 'a leading v',
    file: 'leading-v/terraform.tfvars',
    text: 'talos_version      = "v1.11.3"\nkubernetes_version = "v1.34.1"\n',
    readers: [{ reads: { talosVersion: '1.11.3', kubernetesVersion: '1.34.1' } }],
  },
  {
    name: '# renovate: annotations on variables of any name',
    file: 'annotations/versions.tf',
    text:
      'locals {\n  # renovate: datasource=github-releases depName=siderolabs/talos\n  talos = "1.11.3"\n' +
      '  // renovate: datasource=github-releases depName=kubernetes/kubernetes\n  k8s = "1.34.1"\n}\n',
    readers: [
      {
        variables: { talos: 'talos', kubernetes: 'k8s' },
        reads: { talosVersion: '1.11.3', kubernetesVersion: '1.34.1' },
      },
    ],
  },
  {
    name: 'a comment that matches the old pattern above the real block',
    file: 'comment/variables.tf',
    text:
      '# talos_version = "1.10.0" was the first release we ran\n' +
      '// kubernetes_version = "1.30.0" too\n' +
      'variable "talos_version" {\n  type    = string\n  default = "1.11.3"\n}\n',
    readers: [{ reads: { talosVersion: '1.11.3' } }],
  },
  {
    name: 'two clusters in one file',
    file: 'two-clusters/variables.tf',
    text:
      'prod_talos_version         = "1.11.3"\nstaging_talos_version      = "1.12.0"\n' +
      'prod_kubernetes_version    = "1.34.1"\nstaging_kubernetes_version = "1.35.0"\n',
    readers: [
      {
        variables: { talos: 'prod_talos_version', kubernetes: 'prod_kubernetes_version' },
        reads: { talosVersion: '1.11.3', kubernetesVersion: '1.34.1' },
      },
      {
        variables: { talos: 'staging_talos_version', kubernetes: 'staging_kubernetes_version' },
        reads: { talosVersion: '1.12.0', kubernetesVersion: '1.35.0' },
      },
    ],
  },
  {
    // The lab's count-per-role shape: the versions beside the node lists, whose objects hold no version.
    name: 'count per role: terraform.tfvars with node lists',
    file: 'count/terraform.tfvars',
    text:
      '# Renovate bumps the versions (renovate.json); the merge upgrades the cluster.\n' +
      `talos_version           = "v1.11.3"\nkubernetes_version      = "1.34.1"\ncontroller_schematic_id = "${CONTROLLER}"\n` +
      `worker_schematic_id     = "${WORKER}"\n\ngateway = "10.0.0.1"\n\ncontrolplanes = [\n` +
      '  { name = "talos-cp-1", ip = "10.0.0.11", host = "atlas" },\n]\n\nworkers = [\n' +
      '  { name = "talos-wk-1", ip = "10.0.0.21", host = "atlas" },\n]\n',
    readers: [
      {
        reads: {
          talosVersion: '1.11.3',
          kubernetesVersion: '1.34.1',
          controllerSchematicId: CONTROLLER,
          workerSchematicId: WORKER,
        },
      },
    ],
  },
  {
    // The lab's count-versions-object shape: the inventory names each value by its path in the object.
    name: 'attributes of one object in cluster.auto.tfvars',
    file: 'object/cluster.auto.tfvars',
    text:
      'cluster = {\n  name                    = "atlas"\n  talos_version           = "v1.11.3"\n' +
      `  kubernetes_version      = "1.34.1"\n  controller_schematic_id = "${CONTROLLER}"\n}\n`,
    readers: [
      {
        variables: {
          talos: 'cluster.talos_version',
          kubernetes: 'cluster.kubernetes_version',
          controllerSchematic: 'cluster.controller_schematic_id',
        },
        reads: { talosVersion: '1.11.3', kubernetesVersion: '1.34.1', controllerSchematicId: CONTROLLER },
      },
    ],
  },
];

export const variablesOf = (reader: Reader) => ({ ...DEFAULT_VARIABLES, ...reader.variables });
