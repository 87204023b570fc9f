package main

import (
	_ "github.com/yuin/gopher-lua"
	_ "sigs.k8s.io/yaml"
)

func main() {}
