// argocd-health prints the Argo CD health that a Lua health script gives one
// Kubernetes object: argocd-health [-script health.lua] [object.yaml|-]

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

func main() {
	scriptPath := flag.String("script", "gitops/argocd/health.lua", "Lua health script to run")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-script health.lua] [object.yaml|object.json|-]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*scriptPath, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
}

func run(scriptPath, objectPath string) error {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		return err
	}
	obj, err := readObject(objectPath)
	if err != nil {
		return err
	}
	health, err := evaluateHealth(obj, string(script))
	if err != nil {
		return fmt.Errorf("running %s: %w", scriptPath, err)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	return out.Encode(health)
}
