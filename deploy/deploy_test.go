// Package deploy holds no code: its test checks the structure of the
// Kubernetes and compose examples offline (no cluster, no kubectl, no
// schema download) — the fields a wrong edit would silently break.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pensados/sentinelx-mcp/server"
	"github.com/pensados/sentinelx-mcp/server/doctor"
)

type obj = map[string]any

// at walks a decoded YAML tree: at(t, doc, "spec", "template", 0, "name").
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(obj)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: no %q", path, k)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func decodeAll(t *testing.T, file string) []obj {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []obj
	for {
		var d obj
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		docs = append(docs, d)
	}
}

func TestKubernetesManifests(t *testing.T) {
	docs := decodeAll(t, "kubernetes/sentinelx-mcp.yaml")
	byKind := map[string]obj{}
	dns := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		name, _ := at(t, d, "metadata", "name").(string)
		if d["apiVersion"] == nil || kind == "" || !dns.MatchString(name) {
			t.Fatalf("document without apiVersion, kind or a DNS-1123 name: %v", d)
		}
		byKind[kind] = d
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service"} {
		if byKind[k] == nil {
			t.Fatalf("no %s", k)
		}
	}
	cm, dep, svc := byKind["ConfigMap"], byKind["Deployment"], byKind["Service"]
	if dep["apiVersion"] != "apps/v1" || svc["apiVersion"] != "v1" || cm["apiVersion"] != "v1" {
		t.Fatal("apiVersions: want apps/v1 Deployment, v1 Service and ConfigMap")
	}

	// The selector picks the pod template, and the Service picks the same pods.
	labels := at(t, dep, "spec", "template", "metadata", "labels").(obj)
	for k, v := range at(t, dep, "spec", "selector", "matchLabels").(obj) {
		if labels[k] != v {
			t.Fatalf("Deployment selector %s=%v does not match the template labels %v", k, v, labels)
		}
	}
	for k, v := range at(t, svc, "spec", "selector").(obj) {
		if labels[k] != v {
			t.Fatalf("Service selector %s=%v does not match the pod labels %v", k, v, labels)
		}
	}

	pod := at(t, dep, "spec", "template", "spec").(obj)
	if pod["automountServiceAccountToken"] != false {
		t.Error("the pod needs no Kubernetes API token: automountServiceAccountToken: false")
	}
	psc := at(t, pod, "securityContext").(obj)
	if psc["runAsNonRoot"] != true || psc["runAsUser"] != 65532 || at(t, psc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("pod securityContext: %v", psc)
	}
	c := at(t, pod, "containers", 0).(obj)
	csc := at(t, c, "securityContext").(obj)
	if csc["readOnlyRootFilesystem"] != true || csc["allowPrivilegeEscalation"] != false || csc["privileged"] != false {
		t.Errorf("container securityContext: %v", csc)
	}
	if drop := at(t, csc, "capabilities", "drop").([]any); !slices.Contains(drop, any("ALL")) {
		t.Errorf("capabilities.drop %v, want ALL", drop)
	}
	// A read-only root filesystem needs a writable /tmp for Go.
	mounts := at(t, c, "volumeMounts").([]any)
	vols := at(t, pod, "volumes").([]any)
	tmp := false
	for _, m := range mounts {
		if m.(obj)["mountPath"] == "/tmp" {
			for _, v := range vols {
				if v.(obj)["name"] == m.(obj)["name"] && v.(obj)["emptyDir"] != nil {
					tmp = true
				}
			}
		}
	}
	if !tmp {
		t.Error("no emptyDir mounted at /tmp")
	}

	port := at(t, c, "ports", 0).(obj)
	if port["containerPort"] != 8098 || port["name"] != "http" {
		t.Fatalf("container port: %v", port)
	}
	if at(t, svc, "spec", "ports", 0, "targetPort") != port["name"] {
		t.Fatal("Service targetPort is not the container's named port")
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"} {
		g := at(t, c, probe, "httpGet").(obj)
		if g["path"] != path || g["port"] != port["name"] {
			t.Errorf("%s: %v, want %s on port %v", probe, g, path, port["name"])
		}
	}

	// The environment the pod gets loads as serve would load it, with the
	// Secret's token; every ConfigMap key is a variable the bridge reads.
	env := map[string]string{}
	for k, v := range at(t, cm, "data").(obj) {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("ConfigMap %s: value %v is not a string", k, v)
		}
		env[k] = s
	}
	if u := doctor.Unknown(env); len(u) > 0 {
		t.Fatalf("ConfigMap keys sentinelx-mcp does not read: %v", u)
	}
	var fromCM, fromSecret bool
	for _, ef := range at(t, c, "envFrom").([]any) {
		if r, ok := ef.(obj)["configMapRef"].(obj); ok && r["name"] == at(t, cm, "metadata", "name") {
			fromCM = true
		}
		if _, ok := ef.(obj)["secretRef"]; ok {
			fromSecret = true
		}
	}
	if !fromCM || !fromSecret {
		t.Fatal("envFrom must name the ConfigMap and a Secret (the agent token)")
	}
	for _, e := range at(t, c, "env").([]any) {
		env[e.(obj)["name"].(string)] = e.(obj)["value"].(string)
	}
	env["SENTINELX_TOKEN"] = "from-the-secret"
	cfg, err := server.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the pod's configuration does not load: %v", err)
	}
	if cfg.Port != 8098 || cfg.Host != "0.0.0.0" || !slices.Contains(cfg.Audiences, cfg.MCPURL()) {
		t.Fatalf("config: port %d host %s audiences %v (MCP URL %s)", cfg.Port, cfg.Host, cfg.Audiences, cfg.MCPURL())
	}
}

func TestComposeExample(t *testing.T) {
	docs := decodeAll(t, "compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	services := at(t, docs[0], "services").(obj)
	kc, bridge := at(t, services, "keycloak").(obj), at(t, services, "sentinelx-mcp").(obj)
	if !strings.HasPrefix(kc["image"].(string), "quay.io/keycloak/keycloak:") {
		t.Errorf("keycloak image %v", kc["image"])
	}
	if bridge["read_only"] != true || bridge["user"] != "65532:65532" || !slices.Contains(bridge["cap_drop"].([]any), any("ALL")) ||
		!slices.Contains(bridge["security_opt"].([]any), any("no-new-privileges:true")) || !slices.Contains(bridge["tmpfs"].([]any), any("/tmp")) {
		t.Errorf("sentinelx-mcp hardening: %v", bridge)
	}
	if !slices.Contains(bridge["depends_on"].([]any), any("keycloak")) {
		t.Error("sentinelx-mcp does not depend on keycloak")
	}
	env := map[string]string{}
	interp := regexp.MustCompile(`^\$\{([A-Z_]+):\?[^}]*\}$`)
	for k, v := range at(t, bridge, "environment").(obj) {
		s := v.(string)
		if m := interp.FindStringSubmatch(s); m != nil {
			s = "value-of-" + m[1] // compose would refuse to start without it
		}
		env[k] = s
	}
	if u := doctor.Unknown(env); len(u) > 0 {
		t.Fatalf("variables sentinelx-mcp does not read: %v", u)
	}
	cfg, err := server.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the service's configuration does not load: %v", err)
	}
	if !slices.Contains(cfg.Audiences, cfg.MCPURL()) || cfg.Host != "127.0.0.1" {
		t.Fatalf("config: host %s audiences %v (MCP URL %s)", cfg.Host, cfg.Audiences, cfg.MCPURL())
	}
	if _, ok := at(t, docs[0], "volumes").(obj)["keycloak-data"]; !ok {
		t.Error("named volume keycloak-data not declared")
	}
}

// doctor --env-file reads the installed env file, which starts as a copy
// of the example: it must parse, and name only variables the bridge reads.
func TestEnvExampleReadsInDoctor(t *testing.T) {
	vars, err := doctor.ReadEnvFile("sentinelx-mcp.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) == 0 {
		t.Fatal("no variable set in the example")
	}
	if u := doctor.Unknown(vars); len(u) > 0 {
		t.Fatalf("unknown variables: %v", u)
	}
}
