// Reading one Kubernetes object from YAML or JSON, as a client reads it from the cluster.

package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// readObject reads one object from path, or from stdin when path is "" or "-".
func readObject(path string) (*unstructured.Unstructured, error) {
	var data []byte
	var err error
	if path == "" || path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return decodeObject(data)
}

// decodeObject turns YAML or JSON into an unstructured object. Going through
// unstructured's JSON decoder gives integers as int64 and other numbers as
// float64, as in objects read from the cluster (kstatus needs int64 for
// metadata.generation and status.observedGeneration).
func decodeObject(data []byte) (*unstructured.Unstructured, error) {
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parsing object: %w", err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(jsonData); err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	return obj, nil
}
