// kstatus-check prints the kstatus result (what Flux and kpt use to wait for
// resources) for one Kubernetes object: kstatus-check [object.yaml|-]

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// result is the printed form of a kstatus result.
type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [object.yaml|object.json|-]\n", os.Args[0])
	}
	flag.Parse()
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check:", err)
		os.Exit(1)
	}
}

func run(objectPath string) error {
	obj, err := readObject(objectPath)
	if err != nil {
		return err
	}
	res, err := status.Compute(obj)
	if err != nil {
		return fmt.Errorf("computing status: %w", err)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	return out.Encode(result{Status: res.Status.String(), Message: res.Message})
}
