// Runs gitops/argocd/health.lua over every BmsJob fixture and checks the
// Argo CD health it gives.

package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const (
	fixturesDir = "../../tests/fixtures/objects"
	healthLua   = "../../gitops/argocd/health.lua"
)

// expectedHealth is the Argo CD health each fixture must get, and a piece of
// text its message must contain.
var expectedHealth = map[string]struct {
	status  string
	message string
}{
	"succeeded.yaml":               {"Healthy", "JobSucceeded"},
	"running.yaml":                 {"Progressing", "JobRunning: Job running, 1/3"},
	"pending.yaml":                 {"Progressing", "JobPending"},
	"pending-payment.yaml":         {"Progressing", "PendingPayment"},
	"cloud-unavailable.yaml":       {"Progressing", "CloudUnavailable"},
	"failed.yaml":                  {"Degraded", "JobFailed: Job failed with error BMS.0223"},
	"deadline-exceeded.yaml":       {"Degraded", "DeadlineExceeded"},
	"credentials-rejected.yaml":    {"Degraded", "CredentialsRejected: Huawei Cloud rejected the access key"},
	"secret-not-found.yaml":        {"Degraded", "SecretNotFound"},
	"generation-behind.yaml":       {"Progressing", "observe generation 2"},
	"initializing.yaml":            {"Progressing", "Initializing"},
	"unknown-job-status.yaml":      {"Progressing", "UnknownJobStatus: Cloud reports job status ROLLING_BACK"},
	"new-with-status-default.yaml": {"Progressing", "Waiting for the controller"},
}

func TestHealthOfFixtures(t *testing.T) {
	script, err := os.ReadFile(healthLua)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range fixtureNames(t) {
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			want, ok := expectedHealth[name]
			if !ok {
				t.Fatalf("no expected Argo CD health for fixture %s: add it to expectedHealth", name)
			}
			obj, err := readObject(filepath.Join(fixturesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := evaluateHealth(obj, string(script))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s %q", name, got.Status, got.Message)
			if got.Status != want.status {
				t.Errorf("status = %s, want %s (message %q)", got.Status, want.status, got.Message)
			}
			if !strings.Contains(got.Message, want.message) {
				t.Errorf("message = %q, want it to contain %q", got.Message, want.message)
			}
		})
	}
}

func TestJSONInputGivesSameHealthAsYAML(t *testing.T) {
	script, err := os.ReadFile(healthLua)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeObject([]byte(`{"apiVersion":"bms.operator.dev/v1alpha1","kind":"BmsJob",
		"metadata":{"name":"j","generation":3},
		"status":{"observedGeneration":2,"conditions":[{"type":"Ready","status":"True"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := evaluateHealth(obj, string(script))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "Progressing" || !strings.Contains(got.Message, "generation 3") {
		t.Errorf("got %+v, want Progressing waiting for generation 3", got)
	}
}

func TestInvalidStatusFromScriptBecomesUnknown(t *testing.T) {
	obj, err := decodeObject([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := evaluateHealth(obj, `return {status = "Fine", message = "x"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "Unknown" {
		t.Errorf("status = %s, want Unknown", got.Status)
	}
}

// fixtureNames lists the YAML files in the fixtures directory.
func fixtureNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(fixturesDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("no fixtures in %s", fixturesDir)
	}
	return names
}
