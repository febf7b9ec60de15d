import { stringify } from 'yaml';

/** A kubeconfig for one user of the lab's API server, the CA pinned, the token inline. */
export function kubeconfigYaml(server: string, caPem: string, token: string, user = 'lab-admin'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'talos-lab',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'talos-lab', context: { cluster: 'talos-lab', user } }],
    'current-context': 'talos-lab',
  });
}
