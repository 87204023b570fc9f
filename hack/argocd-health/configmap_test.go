// Checks that the argocd-cm snippet carries exactly gitops/argocd/health.lua.

package main

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	argocdCM         = "../../gitops/argocd/argocd-cm.yaml"
	healthCheckCMKey = "resource.customizations.health.bms.operator.dev_BmsJob"
)

func TestArgoCDConfigMapMatchesHealthLua(t *testing.T) {
	script, err := os.ReadFile(healthLua)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(argocdCM)
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Kind     string                `json:"kind"`
		Metadata struct{ Name string } `json:"metadata"`
		Data     map[string]string     `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Errorf("%s is %s/%s, want ConfigMap/argocd-cm", argocdCM, cm.Kind, cm.Metadata.Name)
	}
	got, ok := cm.Data[healthCheckCMKey]
	if !ok {
		t.Fatalf("%s has no data key %s", argocdCM, healthCheckCMKey)
	}
	if got != string(script) {
		t.Errorf("the script under %s in %s differs from %s; copy health.lua into it again", healthCheckCMKey, argocdCM, healthLua)
	}
}
