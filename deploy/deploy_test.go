// Package deploy_test checks the Kubernetes manifests, the Grafana dashboard
// and the Dockerfile: the manifests decode strictly into the Kubernetes API
// types, the kustomizations render, and what they promise (one walker,
// probes on the ports the binary serves, every setting in the ConfigMap)
// holds against the real binary.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// objects is one rendered set of manifests, by kind.
type objects struct {
	deployments []appsv1.Deployment
	configMaps  []corev1.ConfigMap
	secrets     []corev1.Secret
	services    []corev1.Service
	accounts    []corev1.ServiceAccount
	claims      []corev1.PersistentVolumeClaim
}

// decodeStrict decodes one manifest into its Kubernetes API type, refusing
// unknown fields and duplicate keys.
func decodeStrict(t *testing.T, name string, doc []byte, into *objects) {
	t.Helper()
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	strict := func(v any) {
		t.Helper()
		if err := yaml.UnmarshalStrict(doc, v); err != nil {
			t.Fatalf("%s: %s %s does not decode strictly: %v", name, head.APIVersion, head.Kind, err)
		}
	}
	switch head.APIVersion + " " + head.Kind {
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		strict(&o)
		into.deployments = append(into.deployments, o)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		strict(&o)
		into.configMaps = append(into.configMaps, o)
	case "v1 Secret":
		var o corev1.Secret
		strict(&o)
		into.secrets = append(into.secrets, o)
	case "v1 Service":
		var o corev1.Service
		strict(&o)
		into.services = append(into.services, o)
	case "v1 ServiceAccount":
		var o corev1.ServiceAccount
		strict(&o)
		into.accounts = append(into.accounts, o)
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		strict(&o)
		into.claims = append(into.claims, o)
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		var k kusttypes.Kustomization
		strict(&k)
	default:
		t.Fatalf("%s: unexpected %s %s", name, head.APIVersion, head.Kind)
	}
}

// TestManifestsDecodeStrictly decodes every YAML file under deploy/ (the
// Connect manifests excepted: they have their own owner and tests).
func TestManifestsDecodeStrictly(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == "connect" {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 9 {
		t.Fatalf("found only %v", files)
	}
	var all objects
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			decodeStrict(t, fmt.Sprintf("%s#%d", f, i), doc, &all)
		}
	}
	if len(all.secrets) != 1 {
		t.Errorf("want the one example Secret, found %d", len(all.secrets))
	}
}

// TestStrictDecodingCatchesTypos makes sure the strict decoder above would
// fail a misspelt field rather than drop it.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	doc := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: 1\n  stratgy: {type: Recreate}\n")
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(doc, &d); err == nil || !strings.Contains(err.Error(), "stratgy") {
		t.Fatalf("a misspelt field decoded: %v", err)
	}
}

// render builds a kustomization with the kustomize API and decodes what it
// renders strictly.
func render(t *testing.T, dir string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var o objects
	for _, r := range rm.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		decodeStrict(t, dir+": "+r.CurId().String(), b, &o)
	}
	return o
}

func TestKustomizeRendersBaseAndOverlay(t *testing.T) {
	bin := buildImageBinary(t)
	settings := binarySettings(t, bin)
	for _, dir := range []string{"base", "overlays/file-checkpoint"} {
		t.Run(dir, func(t *testing.T) {
			o := render(t, dir)
			if len(o.deployments) != 1 || len(o.configMaps) != 1 || len(o.services) != 1 || len(o.accounts) != 1 {
				t.Fatalf("rendered %d deployments, %d configmaps, %d services, %d service accounts",
					len(o.deployments), len(o.configMaps), len(o.services), len(o.accounts))
			}
			if len(o.secrets) != 0 {
				t.Error("the example Secret must not be applied by the base")
			}
			d, cm, svc, sa := o.deployments[0], o.configMaps[0], o.services[0], o.accounts[0]
			checkDeployment(t, d, cm, sa)
			checkConfigMap(t, bin, settings, cm)
			checkService(t, svc, d)
			state := volume(t, d, "state")
			switch dir {
			case "base":
				if state.EmptyDir == nil {
					t.Error("base: the state volume is not an emptyDir")
				}
			default:
				if state.PersistentVolumeClaim == nil || state.EmptyDir != nil {
					t.Fatalf("overlay: the state volume is %+v, want only the claim", state.VolumeSource)
				}
				if len(o.claims) != 1 || o.claims[0].Name != state.PersistentVolumeClaim.ClaimName {
					t.Errorf("overlay: the volume claims %q; rendered claims %v", state.PersistentVolumeClaim.ClaimName, o.claims)
				}
				if o.claims[0].Labels["app.kubernetes.io/name"] != "callstream" {
					t.Error("overlay: the claim is not labelled")
				}
			}
		})
	}
}

func volume(t *testing.T, d appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

func checkDeployment(t *testing.T, d appsv1.Deployment, cm corev1.ConfigMap, sa corev1.ServiceAccount) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Error("replicas must be exactly 1: two walkers would publish every row twice")
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate so that two walkers never overlap", d.Spec.Strategy.Type)
	}
	if spec.ServiceAccountName != sa.Name {
		t.Errorf("service account %q, want %q", spec.ServiceAccountName, sa.Name)
	}
	if sa.Annotations["azure.workload.identity/client-id"] == "" || d.Spec.Template.Labels["azure.workload.identity/use"] != "true" {
		t.Error("Workload Identity: the service account needs the client-id annotation and the pod the use label")
	}
	if ps := spec.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 ||
		ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("the pod must run as a non-root user with the RuntimeDefault seccomp profile")
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds < 30 {
		t.Error("terminationGracePeriodSeconds must leave time to finish the window in flight")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container security context %+v: want a read-only root, no privilege escalation, every capability dropped", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("the container needs cpu and memory requests and a memory limit")
	}
	// Probes hit the port METRICS_ADDR serves.
	var httpPort int32
	for _, p := range c.Ports {
		if p.Name == "http" {
			httpPort = p.ContainerPort
		}
	}
	if addr := cm.Data["METRICS_ADDR"]; !strings.HasSuffix(addr, ":"+strconv.Itoa(int(httpPort))) || httpPort == 0 {
		t.Errorf("METRICS_ADDR %q does not serve the http port %d", addr, httpPort)
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("probe on %s: %+v", name, p)
		}
	}
	// /readyz takes up to 4 s to answer (readyTimeout in cmd/callstream).
	if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds <= 4 {
		t.Errorf("readiness timeout %ds is not above /readyz's 4 s", c.ReadinessProbe.TimeoutSeconds)
	}
	var fromCM, fromSecret bool
	for _, e := range c.EnvFrom {
		fromCM = fromCM || (e.ConfigMapRef != nil && e.ConfigMapRef.Name == cm.Name)
		fromSecret = fromSecret || (e.SecretRef != nil && e.SecretRef.Optional != nil && *e.SecretRef.Optional)
	}
	if !fromCM || !fromSecret {
		t.Error("the container must read the ConfigMap and the optional Secret as environment")
	}
	// The checkpoint lives on the state volume.
	dir := filepath.Dir(cm.Data["CHECKPOINT_PATH"])
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == "state" && m.MountPath == dir && !m.ReadOnly)
	}
	if !mounted {
		t.Errorf("CHECKPOINT_PATH %s is not on the writable state volume", cm.Data["CHECKPOINT_PATH"])
	}
}

func checkService(t *testing.T, svc corev1.Service, d appsv1.Deployment) {
	t.Helper()
	if len(svc.Spec.Selector) == 0 {
		t.Fatal("the Service selects nothing")
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pod does not carry", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("the Service must forward to the pod's http port: %+v", svc.Spec.Ports)
	}
}

// checkConfigMap: every setting the binary reads is in the ConfigMap, no
// key is unknown, and the binary accepts the values.
func checkConfigMap(t *testing.T, bin string, settings map[string]string, cm corev1.ConfigMap) {
	t.Helper()
	// Secrets, and the Entra credential settings that the Secret or
	// Workload Identity's webhook provide: a ConfigMap entry could shadow
	// them.
	secretOnly := map[string]bool{"GRAPH_ACCESS_TOKEN": true, "AZURE_TENANT_ID": true, "AZURE_CLIENT_ID": true,
		"AZURE_CLIENT_SECRET": true, "AZURE_CLIENT_CERTIFICATE_PATH": true, "AZURE_CLIENT_CERTIFICATE_PASSWORD": true,
		"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN": true, "AZURE_FEDERATED_TOKEN_FILE": true,
		"KAFKA_SASL_PASSWORD": true, "SCHEMA_REGISTRY_PASSWORD": true, "SCHEMA_REGISTRY_BEARER_TOKEN": true}
	for name := range settings {
		if _, ok := cm.Data[name]; !ok && !secretOnly[name] {
			t.Errorf("the ConfigMap lacks %s", name)
		}
	}
	for name := range cm.Data {
		if _, ok := settings[name]; !ok {
			t.Errorf("the ConfigMap sets %s, which callstream does not read", name)
		}
		if secretOnly[name] {
			t.Errorf("%s belongs in the Secret", name)
		}
	}
	// The values parse: check gets past the configuration (exit 2 means it
	// did not) and then fails to reach the example brokers, which is fine.
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range cm.Data {
		switch k {
		case "CHECKPOINT_PATH":
			v = filepath.Join(t.TempDir(), "checkpoint.json")
		case "KAFKA_BROKERS", "GRAPH_BASE_URL":
			v = map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "GRAPH_BASE_URL": "http://127.0.0.1:1"}[k]
		}
		env = append(env, k+"="+v)
	}
	env = append(env, "GRAPH_ACCESS_TOKEN=unused")
	cmd := exec.Command(bin, "check", "--timeout", "1s")
	cmd.Env = env
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code == 2 || !strings.Contains(string(out), "ok    configuration") {
		t.Errorf("callstream does not accept the ConfigMap (exit %d):\n%s", code, out)
	}
}

// settingLine matches a setting in `callstream run --help`.
var settingLine = regexp.MustCompile(`^    ([A-Z][A-Z0-9_]+)=(\S*)`)

// binarySettings lists the settings the binary reads, with defaults, from
// its own help.
func binarySettings(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, "run", "--help").Output()
	if err != nil {
		t.Fatalf("run --help: %v", err)
	}
	settings := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := settingLine.FindStringSubmatch(l); m != nil && !strings.HasPrefix(m[1], "AZURE_") {
			settings[m[1]] = m[2]
		}
	}
	if len(settings) < 15 || settings["KAFKA_TOPIC"] == "" {
		t.Fatalf("could not read the settings from run --help:\n%s", out)
	}
	return settings
}

// secretish says whether a setting holds a secret, by its name: what the
// Secret carries and the ConfigMap must not.
func secretish(name string) bool {
	return strings.Contains(name, "PASSWORD") || strings.Contains(name, "SECRET") || strings.HasSuffix(name, "_TOKEN")
}

// TestSecretExampleHoldsTheSecrets: the example Secret lists every secret
// the binary reads (its --help is the list) and nothing else, and the
// ConfigMap none of them.
func TestSecretExampleHoldsTheSecrets(t *testing.T) {
	b, err := os.ReadFile("base/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(buildImageBinary(t), "run", "--help").Output()
	if err != nil {
		t.Fatalf("run --help: %v", err)
	}
	read := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := settingLine.FindStringSubmatch(l); m != nil {
			read[m[1]] = true
		}
	}
	// Not in the example, on purpose: a static Graph token expires (for
	// trying things out only), and a certificate's password goes with the
	// certificate file, mounted from a Secret of its own.
	optional := map[string]bool{"GRAPH_ACCESS_TOKEN": true, "AZURE_CLIENT_CERTIFICATE_PASSWORD": true}
	secrets := 0
	for name := range read {
		if !secretish(name) {
			continue
		}
		secrets++
		if _, ok := s.StringData[name]; !ok && !optional[name] {
			t.Errorf("the Secret example lacks %s", name)
		}
	}
	if secrets < 5 {
		t.Fatalf("found only %d secrets in run --help:\n%s", secrets, out)
	}
	for k := range s.StringData {
		switch {
		case !read[k]:
			t.Errorf("the Secret example holds %s, which callstream does not read", k)
		case !secretish(k) && !strings.HasPrefix(k, "AZURE_"):
			t.Errorf("the Secret example holds %s, which is not a credential", k)
		}
	}
	for _, dir := range []string{"base", "overlays/file-checkpoint"} {
		for k := range render(t, dir).configMaps[0].Data {
			if secretish(k) {
				t.Errorf("%s: the ConfigMap holds the secret %s", dir, k)
			}
		}
	}
}

// TestGrafanaDashboard checks the dashboard's shape; that every metric it
// queries is served is checked against a real scrape in cmd/callstream
// (TestBinaryMetricsAddUp).
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/callstream-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string
		UID        string
		Templating struct{ List []struct{ Name, Type string } }
		Panels     []struct {
			ID          int
			Type        string
			Title       string
			Description string
			Datasource  struct{ UID string }
			GridPos     struct{ X, Y, W, H int }
			Targets     []struct{ RefID, Expr string }
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("the dashboard needs a title and a uid")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Error("the dashboard must let the importer pick the Prometheus data source")
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.Description == "" || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: needs a title, a description, the ${datasource} variable and queries", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if q.RefID == "" || !strings.Contains(q.Expr, "callstream_") || !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: query %q", p.Title, q.Expr)
			}
			if strings.Count(q.Expr, "(") != strings.Count(q.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %q", p.Title, q.Expr)
			}
		}
	}
	if queries < 15 {
		t.Errorf("only %d queries", queries)
	}
}
