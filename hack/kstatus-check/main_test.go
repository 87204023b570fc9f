// Runs real kstatus (sigs.k8s.io/cli-utils) over every BmsJob fixture and
// checks the status Flux's health checks would see.

package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

const fixturesDir = "../../tests/fixtures/objects"

// expectedStatus is the kstatus status each fixture must get, and a piece of
// text its message must contain.
var expectedStatus = map[string]struct {
	status  status.Status
	message string
}{
	"succeeded.yaml":               {status.CurrentStatus, "Resource is Ready"},
	"running.yaml":                 {status.InProgressStatus, "Job running, 1/3"},
	"pending.yaml":                 {status.InProgressStatus, "waiting to start"},
	"pending-payment.yaml":         {status.InProgressStatus, "order to be paid"},
	"cloud-unavailable.yaml":       {status.InProgressStatus, "Cloud API unavailable"},
	"failed.yaml":                  {status.FailedStatus, "BMS.0223"},
	"deadline-exceeded.yaml":       {status.FailedStatus, "timeout"},
	"credentials-rejected.yaml":    {status.FailedStatus, "rejected the access key"},
	"secret-not-found.yaml":        {status.FailedStatus, "not found"},
	"generation-behind.yaml":       {status.InProgressStatus, "generation is 2, but latest observed generation is 1"},
	"new-with-status-default.yaml": {status.InProgressStatus, "generation is 1, but latest observed generation is 0"},
	"initializing.yaml":            {status.InProgressStatus, "first answer"},
	"unknown-job-status.yaml":      {status.InProgressStatus, "ROLLING_BACK"},
}

func TestStatusOfFixtures(t *testing.T) {
	for _, name := range fixtureNames(t) {
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			want, ok := expectedStatus[name]
			if !ok {
				t.Fatalf("no expected kstatus status for fixture %s: add it to expectedStatus", name)
			}
			obj, err := readObject(filepath.Join(fixturesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := status.Compute(obj)
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
