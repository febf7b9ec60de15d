/**
 * The kwok stages of the lab, written here rather than taken from kwok's defaults, because the lab
 * needs one thing they lack: a node can be "powered off" (annotation lab.talos-upgrade/power=off)
 * while Talos reboots it or Terraform destroys it, and then it must turn NotReady like a real one.
 * kwok owns only conditions and phase; the lab daemon owns nodeInfo, addresses and capacity.
 */
export const POWER_ANNOTATION = 'lab.talos-upgrade/power';

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

const POD_RUNNING = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: lab-pod-running
spec:
  resourceRef: { apiGroup: v1, kind: Pod }
  selector:
    matchExpressions:
    - { key: '.metadata.deletionTimestamp', operator: DoesNotExist }
    - { key: '.spec.nodeName', operator: Exists }
    - { key: '.status.podIP', operator: DoesNotExist }
  delay: { durationMilliseconds: 200, jitterDurationMilliseconds: 800 }
  next:
    statusTemplate: |
      {{ $now := Now }}
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
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
`;

// Run-to-completion pods (restartPolicy Never: jobs, the health checks' DNS and network probes) succeed.
const POD_COMPLETES = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: lab-pod-completes
spec:
  resourceRef: { apiGroup: v1, kind: Pod }
  selector:
    matchExpressions:
    - { key: '.spec.restartPolicy', operator: In, values: [Never] }
    - { key: '.metadata.deletionTimestamp', operator: DoesNotExist }
    - { key: '.status.phase', operator: In, values: [Running] }
  delay: { durationMilliseconds: 500, jitterDurationMilliseconds: 500 }
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Succeeded
      conditions:
      - { type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }} }
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: false
        restartCount: 0
        state: { terminated: { exitCode: 0, reason: Completed, finishedAt: {{ $now | Quote }} } }
      {{ end }}
`;

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
    POD_DELETE,
  ]
    .map((stage) => stage.trim())
    .join('\n---\n')
    .concat('\n');
}
