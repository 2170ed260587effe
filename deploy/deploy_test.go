package deploy

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The tests run in deploy/, so paths are relative to it.
const (
	kubeDir        = "kubernetes"          // one replica on bbolt
	kubePGDir      = "kubernetes-postgres" // several replicas on PostgreSQL
	dockerfilePath = "Dockerfile"
	unitPath       = "systemd/incidentbot.service"
	envExamplePath = "systemd/env.example"
	secretExample  = "secret.example.yaml"
)

// kubeDirs are the Kubernetes variants.
func kubeDirs() []string { return []string{kubeDir, kubePGDir} }

// slackTokens names the tokens the bot must get from a secret store.
func slackTokens() []string { return []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"} }

// manifest is one YAML document of a deploy/ file.
type manifest struct {
	file string // relative to deploy/
	doc  *yaml.Node
	meta objectMeta
}

type objectMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
}

type deployment struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate *struct {
				MaxSurge       yaml.Node `yaml:"maxSurge"`
				MaxUnavailable yaml.Node `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int             `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool            `yaml:"automountServiceAccountToken"`
	EnableServiceLinks            *bool            `yaml:"enableServiceLinks"`
	SecurityContext               securityContext  `yaml:"securityContext"`
	TopologySpreadConstraints     []topologySpread `yaml:"topologySpreadConstraints"`
	Containers                    []container      `yaml:"containers"`
	Volumes                       []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		EmptyDir *struct{} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type topologySpread struct {
	MaxSkew           int           `yaml:"maxSkew"`
	TopologyKey       string        `yaml:"topologyKey"`
	WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
	LabelSelector     labelSelector `yaml:"labelSelector"`
	MatchLabelKeys    []string      `yaml:"matchLabelKeys"`
}

type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []yaml.Node       `yaml:"matchExpressions"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Privileged               *bool  `yaml:"privileged"`
	Capabilities             struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional *bool  `yaml:"optional"`
			} `yaml:"secretKeyRef"`
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

type pvc struct {
	Spec struct {
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Type                     string            `yaml:"type"`
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	Spec struct {
		MinAvailable               yaml.Node     `yaml:"minAvailable"`
		MaxUnavailable             yaml.Node     `yaml:"maxUnavailable"`
		Selector                   labelSelector `yaml:"selector"`
		UnhealthyPodEvictionPolicy string        `yaml:"unhealthyPodEvictionPolicy"`
	} `yaml:"spec"`
}

type secret struct {
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
}

type kustomization struct {
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
}

// loadManifests parses every YAML document of every .yaml/.yml file under
// dir, failing the test on a syntax error or a file with no document.
func loadManifests(t *testing.T, dir string) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (path.Ext(p) != ".yaml" && path.Ext(p) != ".yml") {
			return err
		}
		docs, err := parseYAMLDocs(p)
		if err != nil {
			return err
		}
		if len(docs) == 0 {
			return fmt.Errorf("%s: no YAML document", p)
		}
		for _, doc := range docs {
			m := manifest{file: filepath.ToSlash(p), doc: doc}
			if err := doc.Decode(&m.meta); err != nil {
				return fmt.Errorf("%s: line %d: %w", p, doc.Line, err)
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseYAMLDocs returns the non-empty documents of a multi-document file.
func parseYAMLDocs(p string) ([]*yaml.Node, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		if len(n.Content) > 0 && n.Content[0].Kind != 0 && n.Content[0].Tag != "!!null" {
			docs = append(docs, &n)
		}
	}
}

// kube returns the Kubernetes objects of kind among ms in the bbolt variant
// (kubeDir), decoded into T, with their manifests.
func kube[T any](t *testing.T, ms []manifest, kind string) ([]T, []manifest) {
	t.Helper()
	return kubeIn[T](t, ms, kubeDir, kind)
}

// kubeIn returns the Kubernetes objects of kind among ms in dir, decoded
// into T, with their manifests.
func kubeIn[T any](t *testing.T, ms []manifest, dir, kind string) ([]T, []manifest) {
	t.Helper()
	var objs []T
	var from []manifest
	for _, m := range ms {
		if m.meta.Kind != kind || !strings.HasPrefix(m.file, dir+"/") {
			continue
		}
		var v T
		if err := m.doc.Decode(&v); err != nil {
			t.Fatalf("%s: decode %s: %v", m.file, kind, err)
		}
		objs = append(objs, v)
		from = append(from, m)
	}
	return objs, from
}

func TestYAMLFilesParse(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t, ".")
	files := map[string]bool{}
	for _, m := range ms {
		files[m.file] = true
		if !slices.ContainsFunc(kubeDirs(), func(d string) bool { return strings.HasPrefix(m.file, d+"/") }) {
			continue
		}
		if m.meta.APIVersion == "" || m.meta.Kind == "" {
			t.Errorf("%s: line %d: a document without apiVersion and kind", m.file, m.doc.Line)
		}
		if m.meta.Kind != "Kustomization" && m.meta.Metadata.Name == "" {
			t.Errorf("%s: %s without metadata.name", m.file, m.meta.Kind)
		}
		if m.meta.Metadata.Namespace != "" {
			t.Errorf("%s: %s %s names namespace %q; the manifests must work in any namespace (kubectl -n)",
				m.file, m.meta.Kind, m.meta.Metadata.Name, m.meta.Metadata.Namespace)
		}
	}
	for _, want := range []string{"slack-app-manifest.yaml", "kubernetes/deployment.yaml", "kubernetes/pvc.yaml",
		"kubernetes/service.yaml", "kubernetes/kustomization.yaml", "kubernetes/" + secretExample,
		kubePGDir + "/deployment.yaml", kubePGDir + "/pdb.yaml", kubePGDir + "/service.yaml",
		kubePGDir + "/kustomization.yaml", kubePGDir + "/" + secretExample} {
		if !files[want] {
			t.Errorf("%s: missing or empty", want)
		}
	}
}

func TestDeployment(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t, ".")
	deps, _ := kube[deployment](t, ms, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments in %s/, want 1", len(deps), kubeDir)
	}
	d := deps[0]
	spec := d.Spec
	if spec.Replicas == nil {
		t.Error("replicas is not set (Kubernetes defaults it to 1, but a patch or an HPA may not): want 1 explicitly")
	} else if *spec.Replicas != 1 {
		t.Errorf("replicas = %d, want 1: bbolt has one writer", *spec.Replicas)
	}
	if spec.Strategy.Type != "Recreate" {
		t.Errorf("strategy.type = %q, want Recreate: a rolling update runs two pods on one database", spec.Strategy.Type)
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels %v", k, v, spec.Template.Metadata.Labels)
		}
	}
	pod := spec.Template.Spec
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 10 {
		t.Errorf("terminationGracePeriodSeconds = %v, want >= 10 (the bot needs up to 5 s after SIGTERM)", g)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	checkRestrictedPod(t, pod, c)
	env := checkEnv(t, c)
	secrets, secretFrom := kube[secret](t, ms, "Secret")
	checkSlackTokens(t, c, env, secrets, secretFrom)
	port := containerPortOf(t, c)
	checkHTTPAddr(t, c, env, port)
	checkProbes(t, c, port)

	// The database on the persistent volume.
	i, ok := env["INCIDENTBOT_DB"]
	if !ok {
		t.Fatal("env INCIDENTBOT_DB is not set")
	}
	dbDir := path.Dir(c.Env[i].Value)
	if !path.IsAbs(c.Env[i].Value) {
		t.Errorf("INCIDENTBOT_DB=%q is not absolute", c.Env[i].Value)
	}
	claims := map[string]bool{}
	_, pvcFrom := kube[pvc](t, ms, "PersistentVolumeClaim")
	for _, m := range pvcFrom {
		claims[m.meta.Metadata.Name] = true
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != dbDir {
			continue
		}
		mounted = true
		if vm.ReadOnly {
			t.Errorf("volume mount %s is read-only", dbDir)
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.PersistentVolumeClaim == nil {
				t.Errorf("volume %s mounted at %s is not a persistentVolumeClaim", v.Name, dbDir)
			} else if !claims[v.PersistentVolumeClaim.ClaimName] {
				t.Errorf("volume %s claims %q, which no PersistentVolumeClaim in %s/ defines", v.Name, v.PersistentVolumeClaim.ClaimName, kubeDir)
			}
		}
	}
	if !mounted {
		t.Errorf("no volume mounted at %s, the directory of INCIDENTBOT_DB", dbDir)
	}

	checkResourcesAndScraping(t, c, spec.Template.Metadata.Annotations, port)
}

// checkRestrictedPod checks the pod and its container against the
// restricted profile: non-root, read-only root filesystem, no privilege
// escalation, no capabilities, RuntimeDefault seccomp.
func checkRestrictedPod(t *testing.T, pod podSpec, c container) {
	t.Helper()
	if !ptrTrue(c.SecurityContext.RunAsNonRoot) && !ptrTrue(pod.SecurityContext.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true in the pod or container securityContext")
	}
	for _, u := range []*int64{pod.SecurityContext.RunAsUser, c.SecurityContext.RunAsUser} {
		if u != nil && *u == 0 {
			t.Error("runAsUser: 0")
		}
	}
	if !ptrTrue(c.SecurityContext.ReadOnlyRootFilesystem) {
		t.Error("container securityContext.readOnlyRootFilesystem is not true")
	}
	if a := c.SecurityContext.AllowPrivilegeEscalation; a == nil || *a {
		t.Error("container securityContext.allowPrivilegeEscalation is not false")
	}
	if ptrTrue(c.SecurityContext.Privileged) {
		t.Error("container is privileged")
	}
	if !slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL") || len(c.SecurityContext.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and no add", c.SecurityContext.Capabilities)
	}
	if c.SecurityContext.SeccompProfile.Type != "RuntimeDefault" && pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("no seccompProfile RuntimeDefault in the pod or container securityContext")
	}
}

// checkEnv returns the index of each of the container's environment
// variables by name, and fails on a credential given as a literal value.
func checkEnv(t *testing.T, c container) map[string]int {
	t.Helper()
	env := map[string]int{}
	for i, e := range c.Env {
		env[e.Name] = i
		if sensitive(e.Name) && e.Value != "" {
			t.Errorf("env %s has a literal value; take it from a Secret", e.Name)
		}
	}
	return env
}

// checkSecretEnv checks that the variable name comes from a required key of
// the example Secret (one of secrets), and returns that key's example value.
func checkSecretEnv(t *testing.T, c container, env map[string]int, name string, secrets []secret, from []manifest) (string, bool) {
	t.Helper()
	i, ok := env[name]
	if !ok {
		t.Errorf("env %s is not set", name)
		return "", false
	}
	e := c.Env[i]
	if e.Value != "" {
		t.Errorf("env %s has a literal value; take it from a Secret", name)
	}
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("env %s is not from a secretKeyRef", name)
		return "", false
	}
	ref := e.ValueFrom.SecretKeyRef
	if ptrTrue(ref.Optional) {
		t.Errorf("env %s: secretKeyRef is optional; the bot cannot run without it", name)
	}
	for j, s := range secrets {
		if from[j].meta.Metadata.Name != ref.Name {
			continue
		}
		if v, ok := s.StringData[ref.Key]; ok {
			return v, true
		}
		if v, ok := s.Data[ref.Key]; ok {
			return v, true
		}
	}
	t.Errorf("env %s: secretKeyRef %s/%s is not a key of the example Secret in %s", name, ref.Name, ref.Key, secretExample)
	return "", false
}

// checkSlackTokens checks that both Slack tokens come from required keys of
// the example Secret.
func checkSlackTokens(t *testing.T, c container, env map[string]int, secrets []secret, from []manifest) {
	t.Helper()
	for _, name := range slackTokens() {
		checkSecretEnv(t, c, env, name, secrets, from)
	}
}

// checkHTTPAddr checks that INCIDENTBOT_HTTP_ADDR listens on the container
// port, reachable by the kubelet.
func checkHTTPAddr(t *testing.T, c container, env map[string]int, port int) {
	t.Helper()
	i, ok := env["INCIDENTBOT_HTTP_ADDR"]
	if !ok {
		t.Error("env INCIDENTBOT_HTTP_ADDR is not set: the default 127.0.0.1:8080 is unreachable by probes")
		return
	}
	host, p, err := net.SplitHostPort(c.Env[i].Value)
	if err != nil {
		t.Errorf("INCIDENTBOT_HTTP_ADDR=%q: %v", c.Env[i].Value, err)
		return
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("INCIDENTBOT_HTTP_ADDR=%q listens on loopback; the kubelet cannot probe it", c.Env[i].Value)
	}
	if p != strconv.Itoa(port) {
		t.Errorf("INCIDENTBOT_HTTP_ADDR port %s is not the containerPort %d", p, port)
	}
}

// checkProbes checks liveness on /healthz and readiness on /readyz, both on
// the container port.
func checkProbes(t *testing.T, c container, port int) {
	t.Helper()
	checkProbe := func(what string, pr *probe, wantPath string) {
		t.Helper()
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("no %s httpGet probe", what)
			return
		}
		if pr.HTTPGet.Path != wantPath {
			t.Errorf("%s probe path = %q, want %q", what, pr.HTTPGet.Path, wantPath)
		}
		if got := resolvePort(t, c, &pr.HTTPGet.Port); got != port {
			t.Errorf("%s probe port resolves to %d, want the container port %d", what, got, port)
		}
	}
	checkProbe("liveness", c.LivenessProbe, "/healthz")
	checkProbe("readiness", c.ReadinessProbe, "/readyz")
}

// checkResourcesAndScraping checks the container's requests and memory
// limit, and the pod's Prometheus annotations.
func checkResourcesAndScraping(t *testing.T, c container, ann map[string]string, port int) {
	t.Helper()
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no resources.requests.%s", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no resources.limits.memory")
	}
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(port) {
		t.Errorf("pod annotations %v: want prometheus.io/scrape \"true\" and prometheus.io/port %q", ann, strconv.Itoa(port))
	}
	if p := ann["prometheus.io/path"]; p != "" && p != "/metrics" {
		t.Errorf("prometheus.io/path = %q, want /metrics", p)
	}
}

// sensitive reports whether an environment variable holds a credential.
func sensitive(name string) bool {
	return strings.HasSuffix(name, "_TOKEN") || strings.HasSuffix(name, "_KEY") || strings.Contains(name, "SECRET")
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// containerPortOf returns the container's one port.
func containerPortOf(t *testing.T, c container) int {
	t.Helper()
	if len(c.Ports) != 1 {
		t.Fatalf("container %s has %d ports, want 1 (HTTP: health, readiness, metrics)", c.Name, len(c.Ports))
	}
	return c.Ports[0].ContainerPort
}

// resolvePort turns a probe or Service port (a number or a port name) into
// the container port number, or -1.
func resolvePort(t *testing.T, c container, n *yaml.Node) int {
	t.Helper()
	if n.Kind != yaml.ScalarNode {
		t.Errorf("line %d: port is not a scalar", n.Line)
		return -1
	}
	if p, err := strconv.Atoi(n.Value); err == nil {
		return p
	}
	for _, p := range c.Ports {
		if p.Name == n.Value {
			return p.ContainerPort
		}
	}
	t.Errorf("line %d: port name %q is not a port of container %s", n.Line, n.Value, c.Name)
	return -1
}

func TestPersistentVolumeClaim(t *testing.T) {
	t.Parallel()
	claims, from := kube[pvc](t, loadManifests(t, "."), "PersistentVolumeClaim")
	if len(claims) != 1 {
		t.Fatalf("%d PersistentVolumeClaims, want 1", len(claims))
	}
	c := claims[0]
	if !slices.Contains(c.Spec.AccessModes, "ReadWriteOnce") && !slices.Contains(c.Spec.AccessModes, "ReadWriteOncePod") {
		t.Errorf("%s: accessModes %v, want ReadWriteOnce (or ReadWriteOncePod)", from[0].file, c.Spec.AccessModes)
	}
	if c.Spec.Resources.Requests["storage"] == "" {
		t.Errorf("%s: no storage request", from[0].file)
	}
}

// slackMaxConnections is how many Socket Mode connections Slack allows one
// app at a time.
const slackMaxConnections = 10

// intOrPercent resolves a Kubernetes IntOrString field against total,
// rounding a percentage up or down as Kubernetes does for that field; -1
// when the field is unset or not a number or percentage.
func intOrPercent(t *testing.T, n *yaml.Node, total int, roundUp bool) int {
	t.Helper()
	if n == nil || n.Kind == 0 {
		return -1
	}
	if n.Kind != yaml.ScalarNode {
		t.Errorf("line %d: not a number or percentage", n.Line)
		return -1
	}
	if pct, ok := strings.CutSuffix(n.Value, "%"); ok {
		p, err := strconv.Atoi(pct)
		if err != nil {
			t.Errorf("line %d: %q is not a percentage", n.Line, n.Value)
			return -1
		}
		if roundUp {
			return (p*total + 99) / 100
		}
		return p * total / 100
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		t.Errorf("line %d: %q is not a number or percentage", n.Line, n.Value)
		return -1
	}
	return v
}

// selects reports whether a label selector with matchLabels only selects a
// pod with labels, and fails on a selector the test cannot evaluate.
func selects(t *testing.T, what string, sel labelSelector, labels map[string]string) bool {
	t.Helper()
	if len(sel.MatchExpressions) > 0 {
		t.Errorf("%s: matchExpressions; use matchLabels", what)
	}
	if len(sel.MatchLabels) == 0 {
		t.Errorf("%s: no matchLabels: it would select every pod in the namespace", what)
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// pgDeployment returns the one Deployment of the PostgreSQL variant.
func pgDeployment(t *testing.T, ms []manifest) (deployment, manifest) {
	t.Helper()
	deps, from := kubeIn[deployment](t, ms, kubePGDir, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments in %s/, want 1", len(deps), kubePGDir)
	}
	return deps[0], from[0]
}

// rawSecurity is a Deployment's securityContexts as written.
type rawSecurity struct {
	Spec struct {
		Template struct {
			Spec struct {
				SecurityContext map[string]any `yaml:"securityContext"`
				Containers      []struct {
					SecurityContext map[string]any `yaml:"securityContext"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestDeploymentPostgres(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t, ".")
	d, from := pgDeployment(t, ms)
	spec := d.Spec
	labels := spec.Template.Metadata.Labels

	// Three replicas, replaced one at a time, within Slack's connections.
	replicas := 0
	if spec.Replicas == nil {
		t.Error("replicas is not set: want 3 explicitly")
	} else if replicas = *spec.Replicas; replicas != 3 {
		t.Errorf("replicas = %d, want 3: one per zone, surviving the loss of one", replicas)
	}
	if spec.Strategy.Type != "RollingUpdate" {
		t.Errorf("strategy.type = %q, want RollingUpdate: replicas share the database", spec.Strategy.Type)
	}
	if ru := spec.Strategy.RollingUpdate; ru == nil {
		t.Error("no strategy.rollingUpdate: want maxUnavailable 0 and maxSurge 1 explicitly (the defaults are 25%)")
	} else {
		unavailable := intOrPercent(t, &ru.MaxUnavailable, replicas, false)
		surge := intOrPercent(t, &ru.MaxSurge, replicas, true)
		if unavailable != 0 {
			t.Errorf("rollingUpdate.maxUnavailable resolves to %d, want 0: start the new replica before stopping an old one", unavailable)
		}
		if surge < 1 {
			t.Errorf("rollingUpdate.maxSurge resolves to %d, want 1", surge)
		}
		if replicas+surge > slackMaxConnections {
			t.Errorf("replicas %d + maxSurge %d = %d Socket Mode connections during a rollout; Slack allows %d per app",
				replicas, surge, replicas+surge, slackMaxConnections)
		}
	}
	if !selects(t, "selector", labelSelector{MatchLabels: spec.Selector.MatchLabels}, labels) {
		t.Errorf("selector %v does not match the pod labels %v", spec.Selector.MatchLabels, labels)
	}

	// Spread across zones (a guarantee) and nodes.
	pod := spec.Template.Spec
	spread := map[string]topologySpread{}
	for i, c := range pod.TopologySpreadConstraints {
		if _, dup := spread[c.TopologyKey]; dup {
			t.Errorf("topologySpreadConstraints: %s twice", c.TopologyKey)
		}
		spread[c.TopologyKey] = c
		what := fmt.Sprintf("topologySpreadConstraints[%d] (%s)", i, c.TopologyKey)
		if c.MaxSkew != 1 {
			t.Errorf("%s: maxSkew %d, want 1", what, c.MaxSkew)
		}
		if c.WhenUnsatisfiable != "DoNotSchedule" && c.WhenUnsatisfiable != "ScheduleAnyway" {
			t.Errorf("%s: whenUnsatisfiable %q", what, c.WhenUnsatisfiable)
		}
		if !selects(t, what+" labelSelector", c.LabelSelector, labels) {
			t.Errorf("%s: labelSelector %v does not select the pods (labels %v): it spreads nothing", what, c.LabelSelector.MatchLabels, labels)
		}
		for _, k := range c.MatchLabelKeys {
			if k != "pod-template-hash" {
				t.Errorf("%s: matchLabelKeys %q, want only pod-template-hash", what, k)
			}
		}
	}
	for _, key := range []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname"} {
		if _, ok := spread[key]; !ok {
			t.Errorf("no topologySpreadConstraint on %s", key)
		}
	}
	if z, ok := spread["topology.kubernetes.io/zone"]; ok && z.WhenUnsatisfiable != "DoNotSchedule" {
		t.Errorf("zone spread whenUnsatisfiable %q, want DoNotSchedule: a preference may put every replica in one zone", z.WhenUnsatisfiable)
	}

	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 10 {
		t.Errorf("terminationGracePeriodSeconds = %v, want >= 10 (the bot needs up to 5 s after SIGTERM)", g)
	}
	if a := pod.AutomountServiceAccountToken; a == nil || *a {
		t.Error("automountServiceAccountToken is not false: the bot never talks to the API server")
	}
	if e := pod.EnableServiceLinks; e == nil || *e {
		t.Error("enableServiceLinks is not false: INCIDENTBOT_* service variables would mix with the configuration")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	checkRestrictedPod(t, pod, c)

	// The same hardening as the bbolt variant, but for fsGroup, which only
	// gives the bot its volume.
	raws := map[string]rawSecurity{}
	for _, dir := range kubeDirs() {
		for _, m := range ms {
			if m.meta.Kind == "Deployment" && strings.HasPrefix(m.file, dir+"/") {
				var r rawSecurity
				if err := m.doc.Decode(&r); err != nil {
					t.Fatalf("%s: %v", m.file, err)
				}
				delete(r.Spec.Template.Spec.SecurityContext, "fsGroup")
				delete(r.Spec.Template.Spec.SecurityContext, "fsGroupChangePolicy")
				raws[dir] = r
			}
		}
	}
	bb, pg := raws[kubeDir].Spec.Template.Spec, raws[kubePGDir].Spec.Template.Spec
	if !reflect.DeepEqual(bb.SecurityContext, pg.SecurityContext) {
		t.Errorf("pod securityContext %v, want %v as in %s/ (fsGroup aside)", pg.SecurityContext, bb.SecurityContext, kubeDir)
	}
	if len(bb.Containers) != 1 || len(pg.Containers) != 1 || !reflect.DeepEqual(bb.Containers[0].SecurityContext, pg.Containers[0].SecurityContext) {
		t.Errorf("container securityContext differs from %s/", kubeDir)
	}

	// Environment: tokens and the database URL from the Secret.
	env := checkEnv(t, c)
	secrets, secretFrom := kubeIn[secret](t, ms, kubePGDir, "Secret")
	checkSlackTokens(t, c, env, secrets, secretFrom)
	if example, ok := checkSecretEnv(t, c, env, "INCIDENTBOT_DB", secrets, secretFrom); ok {
		u, err := url.Parse(example)
		switch {
		case err != nil:
			t.Errorf("example database URL: %v", err)
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			t.Errorf("example database URL scheme %q, want postgres or postgresql", u.Scheme)
		case slices.Contains([]string{"", "disable", "allow", "prefer"}, u.Query().Get("sslmode")):
			t.Errorf("example database URL sslmode=%q; want require or stricter: the password crosses the network", u.Query().Get("sslmode"))
		}
	}
	if i, ok := env["INCIDENTBOT_REPLICA_ID"]; !ok {
		t.Error("env INCIDENTBOT_REPLICA_ID is not set: replicas would share one lease holder name")
	} else if e := c.Env[i]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Error("env INCIDENTBOT_REPLICA_ID is not from the downward API fieldRef metadata.name: it must differ per pod")
	}
	if i, ok := env["INCIDENTBOT_LEASE_TTL"]; ok {
		if ttl, err := time.ParseDuration(c.Env[i].Value); err != nil || ttl < 3*time.Second {
			t.Errorf("INCIDENTBOT_LEASE_TTL=%q, want a duration of at least 3s", c.Env[i].Value)
		}
	} else {
		raw, err := os.ReadFile(from.file)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^\s*#\s*- name: INCIDENTBOT_LEASE_TTL\n\s*#\s*value: 15s$`).Match(raw) {
			t.Errorf("%s does not show INCIDENTBOT_LEASE_TTL with its default 15s in a comment", from.file)
		}
	}
	port := containerPortOf(t, c)
	checkHTTPAddr(t, c, env, port)
	checkProbes(t, c, port)

	// Nothing persistent in the pod: the database holds everything.
	if claims, _ := kubeIn[pvc](t, ms, kubePGDir, "PersistentVolumeClaim"); len(claims) > 0 {
		t.Errorf("%d PersistentVolumeClaims in %s/, want none", len(claims), kubePGDir)
	}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil || v.EmptyDir == nil {
			t.Errorf("volume %s is not an emptyDir: the replicas keep nothing on disk", v.Name)
		}
	}
	checkResourcesAndScraping(t, c, spec.Template.Metadata.Annotations, port)
}

func TestPodDisruptionBudget(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t, ".")
	d, _ := pgDeployment(t, ms)
	pdbs, from := kubeIn[podDisruptionBudget](t, ms, kubePGDir, "PodDisruptionBudget")
	if len(pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets in %s/, want 1", len(pdbs), kubePGDir)
	}
	p, file := pdbs[0], from[0].file
	if from[0].meta.APIVersion != "policy/v1" {
		t.Errorf("%s: apiVersion %s, want policy/v1", file, from[0].meta.APIVersion)
	}
	replicas := 0
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	switch {
	case (p.Spec.MinAvailable.Kind == 0) == (p.Spec.MaxUnavailable.Kind == 0):
		t.Errorf("%s: want exactly one of minAvailable and maxUnavailable", file)
	case p.Spec.MaxUnavailable.Kind != 0:
		if n := intOrPercent(t, &p.Spec.MaxUnavailable, replicas, true); n != 1 {
			t.Errorf("%s: maxUnavailable resolves to %d of %d replicas, want 1", file, n, replicas)
		}
	default:
		if n := intOrPercent(t, &p.Spec.MinAvailable, replicas, true); n != replicas-1 {
			t.Errorf("%s: minAvailable resolves to %d of %d replicas, want %d", file, n, replicas, replicas-1)
		}
	}
	if !selects(t, file+" selector", p.Spec.Selector, d.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: selector %v does not select the Deployment's pods (labels %v): it protects nothing",
			file, p.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if u := p.Spec.UnhealthyPodEvictionPolicy; u != "" && u != "AlwaysAllow" && u != "IfHealthyBudget" {
		t.Errorf("%s: unhealthyPodEvictionPolicy %q", file, u)
	}
}

func TestService(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t, ".")
	for _, dir := range kubeDirs() {
		t.Run(dir, func(t *testing.T) {
			svcs, _ := kubeIn[service](t, ms, dir, "Service")
			deps, _ := kubeIn[deployment](t, ms, dir, "Deployment")
			if len(svcs) != 1 || len(deps) != 1 {
				t.Fatalf("%d Services and %d Deployments, want 1 each", len(svcs), len(deps))
			}
			s, d := svcs[0], deps[0]
			if s.Spec.Type != "" && s.Spec.Type != "ClusterIP" {
				t.Errorf("Service type %s, want ClusterIP (nothing reaches the bot from outside)", s.Spec.Type)
			}
			if len(s.Spec.Selector) == 0 {
				t.Error("Service has no selector")
			}
			for k, v := range s.Spec.Selector {
				if d.Spec.Template.Metadata.Labels[k] != v {
					t.Errorf("Service selector %s=%s does not select the pod (labels %v)", k, v, d.Spec.Template.Metadata.Labels)
				}
			}
			c := d.Spec.Template.Spec.Containers[0]
			want := containerPortOf(t, c)
			if len(s.Spec.Ports) == 0 {
				t.Fatal("Service has no ports")
			}
			for _, p := range s.Spec.Ports {
				target := p.Port
				if p.TargetPort.Kind != 0 {
					target = resolvePort(t, c, &p.TargetPort)
				}
				if target != want {
					t.Errorf("Service port %d targets %d, want the container port %d", p.Port, target, want)
				}
			}
			if dir != kubePGDir {
				return
			}
			// Several replicas: each has its own /metrics, and an unready one
			// is the one to look at.
			if s.Spec.ClusterIP != "None" {
				t.Errorf("Service clusterIP %q, want None (headless): a virtual IP answers from a different replica at each scrape", s.Spec.ClusterIP)
			}
			if !s.Spec.PublishNotReadyAddresses {
				t.Error("Service publishNotReadyAddresses is not true: an unready replica's metrics would be unreachable")
			}
		})
	}
}

func TestKustomization(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t, ".")
	for _, tc := range []struct {
		dir  string
		want []string // exactly these resources, or nil: every manifest but the example Secret
	}{
		{dir: kubeDir},
		{dir: kubePGDir, want: []string{"deployment.yaml", "pdb.yaml", "service.yaml"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			ks, from := kubeIn[kustomization](t, ms, tc.dir, "Kustomization")
			if len(ks) != 1 {
				t.Fatalf("%d Kustomizations, want 1", len(ks))
			}
			k := ks[0]
			if k.Namespace != "" {
				t.Errorf("%s sets namespace %q; leave it to kubectl -n", from[0].file, k.Namespace)
			}
			listed := map[string]bool{}
			for _, r := range k.Resources {
				if listed[path.Clean(r)] {
					t.Errorf("%s lists %s twice", from[0].file, r)
				}
				listed[path.Clean(r)] = true
				if _, err := os.Stat(filepath.Join(tc.dir, filepath.FromSlash(r))); err != nil {
					t.Errorf("%s lists %s: %v", from[0].file, r, err)
				}
			}
			if listed[secretExample] {
				t.Errorf("%s lists %s: applying it would overwrite the real tokens with placeholders", from[0].file, secretExample)
			}
			entries, err := os.ReadDir(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				n := e.Name()
				if (path.Ext(n) == ".yaml" || path.Ext(n) == ".yml") && n != "kustomization.yaml" && n != secretExample && !listed[n] {
					t.Errorf("%s/%s is not listed in the kustomization's resources", tc.dir, n)
				}
			}
			if tc.want != nil {
				got := slices.Sorted(maps.Keys(listed))
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s resources %v, want exactly %v", from[0].file, got, tc.want)
				}
			}
		})
	}
}

// TestKustomizeBuild renders each kustomization with kubectl, when it is
// installed, to catch what kustomize itself refuses.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	for _, tc := range []struct {
		dir           string
		want, without []string
	}{
		{kubeDir, []string{"Deployment", "PersistentVolumeClaim", "Service"}, []string{"Secret"}},
		{kubePGDir, []string{"Deployment", "PodDisruptionBudget", "Service"}, []string{"Secret", "PersistentVolumeClaim"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, kubectl, "kustomize", tc.dir).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v\n%s", tc.dir, err, out)
			}
			kinds := map[string]bool{}
			dec := yaml.NewDecoder(bytes.NewReader(out))
			for {
				var m objectMeta
				err := dec.Decode(&m)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("kubectl kustomize %s output: %v", tc.dir, err)
				}
				kinds[m.Kind] = true
			}
			for _, kind := range tc.want {
				if !kinds[kind] {
					t.Errorf("kubectl kustomize output has no %q", "kind: "+kind)
				}
			}
			for _, kind := range tc.without {
				if !kinds[kind] {
					continue
				}
				switch kind {
				case "Secret":
					t.Error("kubectl kustomize output has a Secret: the placeholders would overwrite the real tokens")
				default:
					t.Errorf("kubectl kustomize output has a %s", kind)
				}
			}
		})
	}
}

// placeholderPassword reports whether the password of a database URL in an
// example is obviously not a real one.
func placeholderPassword(p string) bool {
	return strings.Contains(p, "REPLACE") || strings.HasPrefix(p, "$") || strings.HasPrefix(p, "<") ||
		slices.Contains([]string{"password", "PASSWORD", "…", "..."}, p)
}

func TestExamplesHoldNoRealTokens(t *testing.T) {
	t.Parallel()
	// Shapes of real Slack tokens; placeholders say REPLACE.
	real := regexp.MustCompile(`xox[abpr]-[0-9]+-|xapp-[0-9]-`)
	// A PostgreSQL URL with a password, which must be a placeholder.
	dbURL := regexp.MustCompile(`postgres(?:ql)?://[^\s:/@'"]+:([^\s@'"]+)@`)
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if loc := real.FindIndex(b); loc != nil {
			t.Errorf("%s: something like a real Slack token at byte %d", p, loc[0])
		}
		for _, m := range dbURL.FindAllSubmatchIndex(b, -1) {
			if pw := string(b[m[2]:m[3]]); !placeholderPassword(pw) {
				t.Errorf("%s: a database URL with the password %q at byte %d; write REPLACE-ME", p, pw, m[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ms := loadManifests(t, ".")
	n := 0
	for _, dir := range kubeDirs() {
		secrets, from := kubeIn[secret](t, ms, dir, "Secret")
		n += len(secrets)
		for i, s := range secrets {
			if len(s.Data) > 0 {
				t.Errorf("%s: data (base64) hides what it holds; use stringData placeholders", from[i].file)
			}
			for k, v := range s.StringData {
				if !strings.Contains(v, "REPLACE") {
					t.Errorf("%s: stringData.%s = %q is not a placeholder", from[i].file, k, v)
				}
			}
		}
	}
	if n < len(kubeDirs()) {
		t.Errorf("%d example Secrets, want one in each of %v", n, kubeDirs())
	}
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line  int
	cmd   string // upper case
	args  string
	stage int // index of the FROM it follows
}

// parseDockerfile splits a Dockerfile into instructions.
func parseDockerfile(t *testing.T, p string) []instruction {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	stage := -1
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{line: start, cmd: cmd, args: strings.TrimSpace(args), stage: stage})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends inside a continued line", p)
	}
	return out
}

// dockerEnv returns the KEY=VALUE pairs of an ENV instruction.
func dockerEnv(args string) map[string]string {
	env := map[string]string{}
	fields := strings.Fields(args)
	if len(fields) > 0 && !strings.Contains(fields[0], "=") { // ENV KEY value
		env[fields[0]] = strings.Join(fields[1:], " ")
		return env
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		env[k] = strings.Trim(v, `"`)
	}
	return env
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	ins := parseDockerfile(t, dockerfilePath)
	var froms []instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%d FROM stages, want a builder and a final stage", len(froms))
	}
	if ins[0].cmd != "FROM" && ins[0].cmd != "ARG" {
		t.Errorf("line %d: %s before the first FROM", ins[0].line, ins[0].cmd)
	}
	final := len(froms) - 1
	var (
		staticBuild, healthcheck, entrypoint bool
		user, stopsignal                     string
		expose                               []string
		volumes                              []string
		env                                  = map[string]string{}
	)
	for _, in := range ins {
		if in.stage < final {
			if in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") &&
				strings.Contains(in.args, "./cmd/incidentbot") {
				staticBuild = true
			}
			continue
		}
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENV":
			for k, v := range dockerEnv(in.args) {
				env[k] = v
			}
		case "EXPOSE":
			expose = append(expose, strings.Fields(in.args)...)
		case "VOLUME":
			if strings.HasPrefix(in.args, "[") {
				var vs []string
				if err := yaml.Unmarshal([]byte(in.args), &vs); err != nil {
					t.Errorf("line %d: VOLUME %s: %v", in.line, in.args, err)
				}
				volumes = append(volumes, vs...)
			} else {
				volumes = append(volumes, strings.Fields(in.args)...)
			}
		case "HEALTHCHECK":
			healthcheck = strings.Contains(in.args, "CMD") && strings.Contains(in.args, "healthcheck")
		case "ENTRYPOINT":
			// Exec form, so that SIGTERM reaches the bot and not a shell.
			var argv []string
			if err := yaml.Unmarshal([]byte(in.args), &argv); err != nil || !strings.HasPrefix(in.args, "[") || len(argv) == 0 {
				t.Errorf("line %d: ENTRYPOINT %s is not in exec form", in.line, in.args)
			} else if path.Base(argv[0]) != "incidentbot" {
				t.Errorf("line %d: ENTRYPOINT runs %s, want the incidentbot binary", in.line, argv[0])
			}
			entrypoint = true
		case "STOPSIGNAL":
			stopsignal = in.args
		}
	}
	if !staticBuild {
		t.Error("no builder RUN with CGO_ENABLED=0 go build ./cmd/incidentbot")
	}
	u, _, _ := strings.Cut(user, ":")
	if u == "" || u == "root" || u == "0" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	if !slices.Contains(expose, "8080") && !slices.Contains(expose, "8080/tcp") {
		t.Errorf("EXPOSE %v, want 8080", expose)
	}
	if env["INCIDENTBOT_HTTP_ADDR"] != "0.0.0.0:8080" {
		t.Errorf("ENV INCIDENTBOT_HTTP_ADDR=%q, want 0.0.0.0:8080 (loopback is unreachable from outside the container)", env["INCIDENTBOT_HTTP_ADDR"])
	}
	db := env["INCIDENTBOT_DB"]
	if !path.IsAbs(db) {
		t.Errorf("ENV INCIDENTBOT_DB=%q, want an absolute path on the volume", db)
	} else if !slices.Contains(volumes, path.Dir(db)) {
		t.Errorf("INCIDENTBOT_DB=%s is not on a VOLUME (volumes %v)", db, volumes)
	}
	if !healthcheck {
		t.Error("no HEALTHCHECK CMD … healthcheck in the final stage")
	}
	if !entrypoint {
		t.Error("no ENTRYPOINT in the final stage")
	}
	if stopsignal != "" && stopsignal != "SIGTERM" {
		t.Errorf("STOPSIGNAL %s, want SIGTERM", stopsignal)
	}
}

// unit is a parsed systemd unit file: section → key → assignments in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, p string) unit {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: cannot parse %q", p, n+1, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u
}

// last returns the effective (last) assignment of a key, and whether any.
func (u unit) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// systemdBool reports whether v is one of systemd's spellings of true.
func systemdBool(v string) bool {
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, unitPath)
	if u["Service"] == nil {
		t.Fatalf("%s has no [Service] section", unitPath)
	}
	if _, ok := u.last("Install", "WantedBy"); !ok {
		t.Errorf("%s has no [Install] WantedBy=, so systemctl enable does nothing", unitPath)
	}
	exact := map[string]string{
		"Type":            "simple",
		"Restart":         "on-failure",
		"KillSignal":      "SIGTERM",
		"ProtectSystem":   "strict",
		"StateDirectory":  "incidentbot",
		"EnvironmentFile": "/etc/incidentbot/env",
	}
	for k, want := range exact {
		if got, _ := u.last("Service", k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
		"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "RestrictNamespaces", "LockPersonality",
		"MemoryDenyWriteExecute"} {
		if got, _ := u.last("Service", k); !systemdBool(got) {
			t.Errorf("%s=%q, want yes", k, got)
		}
	}
	if user, _ := u.last("Service", "User"); user == "" || user == "root" || user == "0" {
		t.Errorf("User=%q, want a dedicated non-root user", user)
	}
	if caps, ok := u.last("Service", "CapabilityBoundingSet"); !ok || caps != "" {
		t.Errorf("CapabilityBoundingSet=%q (set: %v), want an empty assignment (no capabilities)", caps, ok)
	}
	families, _ := u.last("Service", "RestrictAddressFamilies")
	got := strings.Fields(families)
	slices.Sort(got)
	if want := []string{"AF_INET", "AF_INET6", "AF_UNIX"}; !slices.Equal(got, want) {
		t.Errorf("RestrictAddressFamilies=%q, want %v", families, want)
	}
	if filters := u["Service"]["SystemCallFilter"]; !slices.ContainsFunc(filters, func(f string) bool {
		return !strings.HasPrefix(f, "~") && slices.Contains(strings.Fields(f), "@system-service")
	}) {
		t.Errorf("SystemCallFilter=%v, want @system-service allowed", filters)
	}
	stop, _ := u.last("Service", "TimeoutStopSec")
	if !strings.ContainsAny(stop, "hmsu") {
		stop += "s"
	}
	if d, err := time.ParseDuration(strings.ReplaceAll(stop, " ", "")); err != nil || d <= 5*time.Second {
		t.Errorf("TimeoutStopSec=%q, want more than the bot's 5 s to stop", stop)
	}

	// The database in the state directory, which is writable.
	env := map[string]string{}
	for _, a := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(a) {
			k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			env[k] = v
		}
	}
	state, _ := u.last("Service", "StateDirectory")
	stateDir := "/var/lib/" + state
	if db := env["INCIDENTBOT_DB"]; path.Dir(db) != stateDir {
		t.Errorf("Environment INCIDENTBOT_DB=%q, want a file in %s", db, stateDir)
	}
	var rw []string
	for _, a := range u["Service"]["ReadWritePaths"] {
		rw = append(rw, strings.Fields(a)...)
	}
	if !slices.Contains(rw, stateDir) {
		t.Errorf("ReadWritePaths=%v, want %s", rw, stateDir)
	}

	exe, _ := u.last("Service", "ExecStart")
	argv := strings.Fields(exe)
	if len(argv) == 0 || !path.IsAbs(argv[0]) || path.Base(argv[0]) != "incidentbot" {
		t.Errorf("ExecStart=%q, want an absolute path to the incidentbot binary", exe)
	} else if len(argv) > 1 && argv[1] != "serve" {
		t.Errorf("ExecStart=%q runs subcommand %s, want serve", exe, argv[1])
	}
	if slices.ContainsFunc(argv, func(a string) bool { return strings.Contains(strings.ToLower(a), "token") }) {
		t.Errorf("ExecStart=%q passes a token on the command line", exe)
	}
}

func TestSystemdEnvExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \t") {
			t.Errorf("%s:%d: %q is not VARIABLE=value", envExamplePath, n+1, line)
			continue
		}
		vars[k] = v
	}
	for _, k := range slackTokens() {
		v, ok := vars[k]
		if !ok {
			t.Errorf("%s does not set %s", envExamplePath, k)
		} else if !strings.Contains(v, "REPLACE") {
			t.Errorf("%s: %s=%q is not a placeholder", envExamplePath, k, v)
		}
	}
}

// TestStaticBinary builds the bot as the Dockerfile does (CGO_ENABLED=0) and
// checks that it is a static ELF executable (it runs on distroless/static or
// scratch, with no libc), that the version stamp reaches it, and that its
// healthcheck subcommand, which the image's HEALTHCHECK runs, asks /healthz.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image runs linux binaries; ELF checks need GOOS=linux")
	}
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "incidentbot")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// The Dockerfile also passes -trimpath; it changes no linking, but it
	// would rebuild every dependency instead of reusing the compiled packages
	// that go vet (run before the tests in CI) leaves in the build cache:
	// 45 s against 11 s on 2 cores.
	build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-s -w -X main.Version=deploytest",
		"-o", bin, "./cmd/incidentbot")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/incidentbot: %v\n%s", err, out)
	}

	t.Run("static ELF", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the binary has a PT_INTERP program header: it needs a dynamic loader")
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatal(err)
		}
		if len(libs) > 0 {
			t.Errorf("the binary needs shared libraries %v", libs)
		}
	})

	t.Run("version", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("incidentbot version: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "incidentbot deploytest" {
			t.Errorf("incidentbot version = %q, want %q: -X main.Version does not reach the binary", got, "incidentbot deploytest")
		}
	})

	t.Run("healthcheck", func(t *testing.T) {
		var status atomic.Int32
		var asked atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
				asked.Add(1)
				w.WriteHeader(int(status.Load()))
				return
			}
			http.NotFound(w, r)
		}))
		defer srv.Close()
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		run := func(addr string) (int, string) {
			cmd := exec.CommandContext(ctx, bin, "healthcheck")
			// What the container has: no tokens, the unspecified address.
			cmd.Env = []string{"INCIDENTBOT_HTTP_ADDR=" + addr}
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("incidentbot healthcheck: %v", err)
			}
			return cmd.ProcessState.ExitCode(), string(out)
		}
		status.Store(http.StatusOK)
		code, out := run("0.0.0.0:" + port)
		if code != 0 || asked.Load() == 0 {
			t.Errorf("healthcheck against a healthy /healthz: exit %d, %d requests; output:\n%s", code, asked.Load(), out)
		}
		status.Store(http.StatusServiceUnavailable)
		if code, out := run("127.0.0.1:" + port); code != 1 {
			t.Errorf("healthcheck against /healthz answering 503: exit %d, want 1; output:\n%s", code, out)
		}
		srv.Close()
		if code, out := run("127.0.0.1:" + port); code != 1 {
			t.Errorf("healthcheck with nothing listening: exit %d, want 1; output:\n%s", code, out)
		}
	})
}
