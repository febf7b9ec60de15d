/**
 * The kwok stages of the lab, written here rather than taken from kwok's defaults, because the lab
 * needs one thing they lack: a node can be "powered off" (annotation lab.talos-upgrade/power=off)
 * while Talos reboots it or Terraform destroys it, and then it must turn NotReady like a real one.
 * kwok owns only conditions and phase; the lab daemon owns nodeInfo, addresses and capacity.
 */
export const POWER_ANNOTATION = 'lab.talos-upgrade/power';

/**
 * The exit code a run-to-completion pod ends with on a node whose DNS or network a fault broke
 * (lab/daemon/workloadFaults.ts marks it): the lab-pod-fails stage plays it, the others leave it alone.
 */
export const POD_EXIT_ANNOTATION = 'lab.talos-upgrade/exit';

const nodeConditions = (ready: 'True' | 'False', reason: string, message: string) => {
  const others = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'NetworkUnavailable'].map(
    (type) => `
      - type: ${type}
        status: "${ready === 'True' ? 'False' : 'Unknown'}"
        reason: ${ready === 'True' ? 'KubeletHasSufficientResources' : 'NodeStatusUnknown'}
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}`,
  );
  return `
      {{ $now := Now }}
      conditions:
      - type: Ready
        status: "${ready}"
        reason: ${reason}
        message: "${message}"
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}${others.join('')}
      phase: Running`;
};

const podConditions = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']
  .map(
    (type) => `
      - type: ${type}
        status: "True"
        lastTransitionTime: {{ $now | Quote }}`,
  )
  .join('');

const NODE_READY = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: lab-node-ready
spec:
  resourceRef: { apiGroup: v1, kind: Node }
  selector:
    matchAnnotations: { ${POWER_ANNOTATION}: "on" }
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ["True"]
  delay: { durationMilliseconds: 300, jitterDurationMilliseconds: 700 }
  next:
    statusTemplate: |${nodeConditions('True', 'KubeletReady', 'kubelet is posting ready status')}
`;

// Re-applied while the node stays powered on and Ready: the kubelet's status heartbeat.
const nodeHeartbeat = (everyMs: number) => `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: lab-node-heartbeat
spec:
  resourceRef: { apiGroup: v1, kind: Node }
  selector:
    matchAnnotations: { ${POWER_ANNOTATION}: "on" }
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: In
      values: ["True"]
  delay: { durationMilliseconds: ${everyMs}, jitterDurationMilliseconds: ${everyMs / 2} }
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range .status.conditions }}
      - type: {{ .type | Quote }}
        status: {{ .status | Quote }}
        reason: {{ .reason | Quote }}
        message: {{ or .message "" | Quote }}
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ .lastTransitionTime | Quote }}
      {{ end }}
`;

const NODE_POWER_OFF = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: lab-node-power-off
spec:
  resourceRef: { apiGroup: v1, kind: Node }
  selector:
    matchAnnotations: { ${POWER_ANNOTATION}: "off" }
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ["False"]
  next:
    statusTemplate: |${nodeConditions('False', 'KubeletNotReady', 'machine is powered off or rebooting')}
`;

/** A kwok Stage of pods: the expressions its selector matches, its delay, the status it writes. */
const podStage = (name: string, expressions: string[], delay: [number, number], status: string) => `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ${name}
spec:
  resourceRef: { apiGroup: v1, kind: Pod }
  selector:
    matchExpressions:
${expressions.map((expression) => `    - ${expression}`).join('\n')}
  delay: { durationMilliseconds: ${delay[0]}, jitterDurationMilliseconds: ${delay[1]} }
  next:
    statusTemplate: |
      {{ $now := Now }}${status}
`;

const addresses = `
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      startTime: {{ $now | Quote }}`;

/** Every container of the pod ended, with `exitCode` (a template) and the kubelet's reason. */
const ended = (phase: 'Succeeded' | 'Failed', exitCode: string, reason: string, readyReason: string) => `
      phase: ${phase}
      conditions:
      - { type: Ready, status: "False", reason: ${readyReason}, lastTransitionTime: {{ $now | Quote }} }
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: false
        restartCount: 0
        state: { terminated: { exitCode: ${exitCode}, reason: ${reason}, finishedAt: {{ $now | Quote }} } }
      {{ end }}`;

const notDeleted = "{ key: '.metadata.deletionTimestamp', operator: DoesNotExist }";
const bound = "{ key: '.spec.nodeName', operator: Exists }";
const exitMark = `.metadata.annotations["${POD_EXIT_ANNOTATION}"]`;

const POD_RUNNING = podStage(
  'lab-pod-running',
  [
    notDeleted,
    bound,
    "{ key: '.status.podIP', operator: DoesNotExist }",
    `{ key: '${exitMark}', operator: DoesNotExist }`,
  ],
  [200, 800],
  `
      conditions:${podConditions}
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: true
        started: true
        restartCount: 0
        state: { running: { startedAt: {{ $now | Quote }} } }
      {{ end }}
      phase: Running${addresses}`,
);

// Run-to-completion pods (restartPolicy Never: jobs, the health checks' DNS and network probes) succeed.
const POD_COMPLETES = podStage(
  'lab-pod-completes',
  [
    "{ key: '.spec.restartPolicy', operator: In, values: [Never] }",
    notDeleted,
    "{ key: '.status.phase', operator: In, values: [Running] }",
    `{ key: '${exitMark}', operator: DoesNotExist }`,
  ],
  [500, 500],
  ended('Succeeded', '0', 'Completed', 'PodCompleted'),
);

// A run-to-completion pod whose process fails on its node (a lookup with no DNS, a connection with no
// network): it starts and exits with the marked code, as a kubelet reports it (reason Error).
const POD_FAILS = podStage(
  'lab-pod-fails',
  [
    notDeleted,
    bound,
    `{ key: '${exitMark}', operator: Exists }`,
    "{ key: '.status.phase', operator: NotIn, values: [Failed, Succeeded] }",
  ],
  [500, 500],
  ended('Failed', `{{ index $.metadata.annotations "${POD_EXIT_ANNOTATION}" }}`, 'Error', 'PodFailed') +
    addresses,
);

// What a kubelet does for a deleted pod: stop it after a short grace period and remove the object.
const POD_DELETE = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: lab-pod-delete
spec:
  resourceRef: { apiGroup: v1, kind: Pod }
  selector:
    matchExpressions:
    - { key: '.metadata.deletionTimestamp', operator: Exists }
  delay: { durationMilliseconds: 300, jitterDurationMilliseconds: 700 }
  next:
    finalizers: { empty: true }
    delete: true
`;

export function kwokStagesYaml(options: { statusHeartbeatMs: number }): string {
  return [
    NODE_READY,
    nodeHeartbeat(options.statusHeartbeatMs),
    NODE_POWER_OFF,
    POD_RUNNING,
    POD_COMPLETES,
    POD_FAILS,
    POD_DELETE,
  ]
    .map((stage) => stage.trim())
    .join('\n---\n')
    .concat('\n');
}
