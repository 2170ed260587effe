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
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
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
	kubeDir        = "kubernetes"
	dockerfilePath = "Dockerfile"
	unitPath       = "systemd/incidentbot.service"
	envExamplePath = "systemd/env.example"
	secretExample  = "secret.example.yaml"
)

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
			Type string `yaml:"type"`
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
	TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	Containers                    []container     `yaml:"containers"`
	Volumes                       []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
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
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
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

// kube returns the Kubernetes objects of kind among ms, decoded into out's
// element type, with their manifests.
func kube[T any](t *testing.T, ms []manifest, kind string) ([]T, []manifest) {
	t.Helper()
	var objs []T
	var from []manifest
	for _, m := range ms {
		if m.meta.Kind != kind || !strings.HasPrefix(m.file, kubeDir+"/") {
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
		if !strings.HasPrefix(m.file, kubeDir+"/") {
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
		"kubernetes/service.yaml", "kubernetes/kustomization.yaml", "kubernetes/" + secretExample} {
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

	// Security.
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

	// Environment: tokens from a Secret, never literal; the HTTP address
	// reachable by the kubelet.
	env := map[string]int{}
	for i, e := range c.Env {
		env[e.Name] = i
		if sensitive(e.Name) && e.Value != "" {
			t.Errorf("env %s has a literal value; take it from a Secret", e.Name)
		}
	}
	secrets, secretFrom := kube[secret](t, ms, "Secret")
	for _, name := range slackTokens() {
		i, ok := env[name]
		if !ok {
			t.Errorf("env %s is not set", name)
			continue
		}
		e := c.Env[i]
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not from a secretKeyRef", name)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ptrTrue(ref.Optional) {
			t.Errorf("env %s: secretKeyRef is optional; the bot cannot run without it", name)
		}
		found := false
		for j, s := range secrets {
			if secretFrom[j].meta.Metadata.Name != ref.Name {
				continue
			}
			_, inString := s.StringData[ref.Key]
			_, inData := s.Data[ref.Key]
			found = inString || inData
		}
		if !found {
			t.Errorf("env %s: secretKeyRef %s/%s is not a key of the example Secret in %s", name, ref.Name, ref.Key, secretExample)
		}
	}
	port := containerPortOf(t, c)
	if i, ok := env["INCIDENTBOT_HTTP_ADDR"]; !ok {
		t.Error("env INCIDENTBOT_HTTP_ADDR is not set: the default 127.0.0.1:8080 is unreachable by probes")
	} else {
		host, p, err := net.SplitHostPort(c.Env[i].Value)
		if err != nil {
			t.Errorf("INCIDENTBOT_HTTP_ADDR=%q: %v", c.Env[i].Value, err)
		} else {
			if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
				t.Errorf("INCIDENTBOT_HTTP_ADDR=%q listens on loopback; the kubelet cannot probe it", c.Env[i].Value)
			}
			if p != strconv.Itoa(port) {
				t.Errorf("INCIDENTBOT_HTTP_ADDR port %s is not the containerPort %d", p, port)
			}
		}
	}

	// Probes.
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

	// Resources and scraping.
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no resources.requests.%s", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no resources.limits.memory")
	}
	ann := spec.Template.Metadata.Annotations
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

func TestService(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t, ".")
	svcs, _ := kube[service](t, ms, "Service")
	deps, _ := kube[deployment](t, ms, "Deployment")
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
}

func TestKustomization(t *testing.T) {
	t.Parallel()
	ks, from := kube[kustomization](t, loadManifests(t, "."), "Kustomization")
	if len(ks) != 1 {
		t.Fatalf("%d Kustomizations, want 1", len(ks))
	}
	k := ks[0]
	if k.Namespace != "" {
		t.Errorf("%s sets namespace %q; leave it to kubectl -n", from[0].file, k.Namespace)
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		listed[path.Clean(r)] = true
		if _, err := os.Stat(filepath.Join(kubeDir, filepath.FromSlash(r))); err != nil {
			t.Errorf("%s lists %s: %v", from[0].file, r, err)
		}
	}
	if listed[secretExample] {
		t.Errorf("%s lists %s: applying it would overwrite the real tokens with placeholders", from[0].file, secretExample)
	}
	entries, err := os.ReadDir(kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if (path.Ext(n) == ".yaml" || path.Ext(n) == ".yml") && n != "kustomization.yaml" && n != secretExample && !listed[n] {
			t.Errorf("%s/%s is not listed in the kustomization's resources", kubeDir, n)
		}
	}
}

// TestKustomizeBuild renders the kustomization with kubectl, when it is
// installed, to catch what kustomize itself refuses.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", kubeDir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", kubeDir, err, out)
	}
	for _, kind := range []string{"kind: Deployment", "kind: PersistentVolumeClaim", "kind: Service"} {
		if !bytes.Contains(out, []byte(kind)) {
			t.Errorf("kubectl kustomize output has no %q", kind)
		}
	}
	if bytes.Contains(out, []byte("kind: Secret")) {
		t.Error("kubectl kustomize output has a Secret: the placeholders would overwrite the real tokens")
	}
}

func TestExamplesHoldNoRealTokens(t *testing.T) {
	t.Parallel()
	// Shapes of real Slack tokens; placeholders say REPLACE.
	real := regexp.MustCompile(`xox[abpr]-[0-9]+-|xapp-[0-9]-`)
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
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	secrets, from := kube[secret](t, loadManifests(t, "."), "Secret")
	for i, s := range secrets {
		for k, v := range s.StringData {
			if !strings.Contains(v, "REPLACE") {
				t.Errorf("%s: stringData.%s = %q is not a placeholder", from[i].file, k, v)
			}
		}
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
