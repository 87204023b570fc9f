# bms-job-operator: build, test and demo targets. `make test` is the one test command.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: all build test prereqs tools lint unit-and-integration gitops-checks chart-checks interop crds demo clean-tools

all: build

build:
	$(CARGO) build --bins

## Everything CI runs, from a fresh clone on a fresh machine.
test: prereqs tools lint unit-and-integration gitops-checks chart-checks interop
	@echo "make test: all suites passed"

prereqs:
	hack/check-prereqs.sh

## kube-apiserver, etcd, helm and the GitOps checkers, built once into a cache outside the repo.
tools:
	hack/build-tools.sh
	hack/build-gitops-checkers.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## Unit tests, fixture tests, simulator tests and end-to-end tests on a real control plane.
unit-and-integration:
	$(CARGO) build --bins
	$(CARGO) test --all-targets -- --test-threads=2

gitops-checks:
	cd hack/argocd-health && go vet ./... && go test -count=1 ./...
	cd hack/kstatus-check && go vet ./... && go test -count=1 ./...

chart-checks:
	hack/check-chart.sh

## The official Huawei Python SDK against bms-sim.
interop:
	hack/interop.sh

## Regenerates the CRD from the Rust types, for crds/ and the chart.
crds:
	$(CARGO) run --quiet --bin bms-job-operator -- crd > crds/bmsjob.yaml
	cp crds/bmsjob.yaml charts/bms-job-operator/crds/bmsjob.yaml

## A local control plane, bms-sim and the operator, following the examples until they finish.
demo:
	hack/demo.sh
