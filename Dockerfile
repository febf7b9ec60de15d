# One image for the worker and the webhook server: the project (its TypeScript sources, bundled by
# esbuild at image build time), the real talosctl, terraform and sops, and git for the webhook's git source.
# Versions are pinned. talosctl is the one the project ships and tests (lab/talos-api/go.mod pins the
# same tag): v1.14.1 serves Talos 1.11 to 1.13 nodes and is the first that can drive 1.14 ones: `patch mc`
# on 1.12 nodes (a 1.11 client cannot read their machine config), the Kubernetes ranges up to 1.14 (a 1.13
# client has none for it) and `upgrade --no-reboot` on the lifecycle API.
# Node.js 24 LTS, what the tests run on where the machine has no Node.js 22+ of its own (scripts/use-node.sh).
# Node.js 20 is past its end of life.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ghcr.io/siderolabs/talosctl:v1.14.1 AS talosctl
FROM hashicorp/terraform:1.8.5 AS terraform
# sops decrypts SOPS-encrypted machine configs (age); the version scripts/ensure-tools.sh tests with.
FROM golang:1.26.5-bookworm AS sops
RUN GOBIN=/out go install -trimpath -ldflags "-s -w" github.com/getsops/sops/v3/cmd/sops@v3.13.3

FROM ${NODE_IMAGE}
# openssh-client: a worker fetches merges into its clone of the cluster repository from an ssh origin too.
# The clone is mounted from the host (config/repo), owned by another uid than the image's user: git
# refuses such a work tree unless it is trusted.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory /config/repo
COPY --from=talosctl /talosctl /usr/local/bin/talosctl
COPY --from=terraform /bin/terraform /usr/local/bin/terraform
COPY --from=sops /out/sops /usr/local/bin/sops
WORKDIR /app
COPY package.json package-lock.json ./
COPY lab/package.json lab/package.json
RUN npm ci --omit=dev --workspaces=false --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY tsconfig.json ./
# Bundles the entry points into /app/.cache/entry-bundles now (bin/lib/entryBundle.js): /app is not
# writable by the user the image runs as, which would otherwise load the sources through tsx at
# every start. A bundle that failed to build fails the image.
RUN node bin/talos-upgrade.js --help >/dev/null && node bin/talos-upgrade.js worker --help >/dev/null \
 && ls .cache/entry-bundles/src-starter-cli-*.mjs .cache/entry-bundles/src-worker-cli-*.mjs
ENV NODE_ENV=production \
    TALOSCTL=/usr/local/bin/talosctl \
    TERRAFORM=/usr/local/bin/terraform \
    SOPS=/usr/local/bin/sops \
    TALOS_UPGRADE_CREDENTIALS_DIR=/run/secrets/clusters
# The backups folder the compose file mounts a named volume on: a new volume takes this owner, so the
# worker (user node) can write etcd snapshots and Terraform states there.
RUN mkdir -p /var/lib/talos-upgrade/backups && chown -R node:node /var/lib/talos-upgrade
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/talos-upgrade.js"]
CMD ["--help"]
