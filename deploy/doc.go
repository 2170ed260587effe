// Package deploy holds no code: it is the directory of incidentbot's
// deployment files — the Slack app manifest, the Dockerfile, the Kubernetes
// manifests (one replica on bbolt, or several on PostgreSQL) and the systemd
// unit — and its tests check those files against what the bot needs to run
// safely: one writer on a persistent bbolt database, or several replicas
// spread across zones sharing a PostgreSQL database, within Slack's
// connection limit; secrets from the platform's secret store, probes on
// /healthz and /readyz, a non-root, read-only, capability-free process, and
// a static binary.
package deploy
