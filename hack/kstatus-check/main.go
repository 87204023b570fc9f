package main

import (
	_ "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	_ "sigs.k8s.io/yaml"
)

func main() {}
