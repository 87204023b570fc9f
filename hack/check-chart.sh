#!/usr/bin/env bash
# Lints and renders charts/bms-job-operator with the real helm, over the
# default values and each charts/bms-job-operator/ci/*-values.yaml, and checks
# the rendered manifests: least-privilege RBAC, namespaced mode, leader
# election, the Deployment's security context, monitoring objects, default
# credentials, and that values.schema.json refuses wrong values by name.
#
# Usage: hack/check-chart.sh
# Uses $HELM, or target/tools/bin/helm (built by hack/build-tools.sh helm).
# Prints one line per check and exits non-zero if any failed.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart="$repo_root/charts/bms-job-operator"
helm=${HELM:-$repo_root/target/tools/bin/helm}
release=bms
namespace=bms-system

passed=0
failed=0

die() {
  echo "check-chart: error: $*" >&2
  exit 1
}

pass() {
  passed=$((passed + 1))
  echo "ok   $*"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL $*"
}

# check DESCRIPTION COMMAND...: runs the command quietly and records the result.
check() {
  local description=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$description"; else fail "$description"; fi
}

# refute DESCRIPTION COMMAND...: passes when the command fails.
refute() {
  local description=$1
  shift
  if "$@" >/dev/null 2>&1; then fail "$description"; else pass "$description"; fi
}

# has FILE REGEX / lacks FILE REGEX: whether the rendered file matches.
has() { grep -Eq -- "$2" "$1"; }
lacks() { ! grep -Eq -- "$2" "$1"; }

# count FILE REGEX: number of matching lines.
count() { grep -Ec -- "$2" "$1" || true; }

# rules KIND FILE: prints each RBAC rule of every object of KIND on one line,
# as "<namespace>/<name>: - apiGroups: [...] resources: [...] verbs: [...]".
rules() {
  awk -v want="$1" '
    function flush() { if (rule != "" && kind == want) print ns "/" name ": " rule; rule = "" }
    /^---/ { flush(); kind = ""; name = ""; ns = ""; in_rules = 0; next }
    /^kind: / { kind = $2 }
    /^  name: / && name == "" { name = $2 }
    /^  namespace: / && ns == "" { ns = $2 }
    /^rules:/ { in_rules = 1; next }
    in_rules && /^[^ ]/ { flush(); in_rules = 0 }
    in_rules && /^  - / { flush(); rule = $0; next }
    in_rules { rule = rule " " $0 }
    END { flush() }
  ' "$2"
}

# rule_matches KIND FILE RESOURCE VERB-REGEX: whether some rule of KIND names
# RESOURCE (or "*") and a verb matching VERB-REGEX.
rule_matches() {
  rules "$1" "$2" | grep -E "resources: \[[^]]*\"($3|\*)\"" | grep -Eq "verbs: \[[^]]*\"($4)\""
}

# render NAME [VALUES-FILE]: lints with --strict and renders into $work/NAME.yaml.
render() {
  local name=$1 values=() lint_output
  [[ $# -lt 2 ]] || values=(--values "$2")
  if lint_output=$("$helm" lint --strict "$chart" --namespace "$namespace" "${values[@]}" 2>&1); then
    pass "$name: helm lint --strict"
  else
    fail "$name: helm lint --strict"
    echo "$lint_output" | sed 's/^/     /'
  fi
  if "$helm" template "$release" "$chart" --namespace "$namespace" "${values[@]}" >"$work/$name.yaml" 2>"$work/$name.err"; then
    pass "$name: helm template"
  else
    fail "$name: helm template"
    sed 's/^/     /' "$work/$name.err"
    : >"$work/$name.yaml"
  fi
}

# Checks every rendering must pass.
check_common() {
  local name=$1 out="$work/$1.yaml"
  check "$name: a Deployment is rendered" has "$out" '^kind: Deployment$'
  check "$name: pod runs as non-root user 65532" \
    eval "[[ \$(count '$out' '^ +runAsNonRoot: true$') -ge 2 && \$(count '$out' '^ +runAsUser: 65532$') -ge 2 ]]"
  check "$name: read-only root filesystem" has "$out" '^ +readOnlyRootFilesystem: true$'
  check "$name: no privilege escalation" has "$out" '^ +allowPrivilegeEscalation: false$'
  check "$name: all capabilities dropped" eval "grep -A1 -E '^ +drop:$' '$out' | grep -Eq '^ +- ALL$'"
  check "$name: seccomp profile RuntimeDefault" has "$out" '^ +type: RuntimeDefault$'
  check "$name: resource requests and limits" eval "has '$out' '^ +requests:$' && has '$out' '^ +limits:$'"
  check "$name: liveness probe on /livez, port http" eval "grep -A3 -E '^ +livenessProbe:$' '$out' | grep -q 'path: /livez' && grep -A4 -E '^ +livenessProbe:$' '$out' | grep -q 'port: http'"
  check "$name: readiness probe on /readyz, port http" eval "grep -A3 -E '^ +readinessProbe:$' '$out' | grep -q 'path: /readyz' && grep -A4 -E '^ +readinessProbe:$' '$out' | grep -q 'port: http'"
  check "$name: POD_NAME and POD_NAMESPACE from the downward API" \
    eval "grep -A3 -E 'name: POD_NAME$' '$out' | grep -q 'fieldPath: metadata.name' && grep -A3 -E 'name: POD_NAMESPACE$' '$out' | grep -q 'fieldPath: metadata.namespace'"
  check "$name: operator runs 'run' with --http-addr on the metrics port" \
    eval "has '$out' '^ +- run$' && has '$out' '^ +- --http-addr=0\.0\.0\.0:[0-9]+$'"
  refute "$name: no Role or ClusterRole lets anyone list or watch Secrets" \
    eval "rule_matches ClusterRole '$out' secrets 'list|watch|\*' || rule_matches Role '$out' secrets 'list|watch|\*'"
  refute "$name: Secrets are only read with get" \
    eval "rule_matches ClusterRole '$out' secrets 'create|update|patch|delete|deletecollection' || rule_matches Role '$out' secrets 'create|update|patch|delete|deletecollection'"
  refute "$name: BmsJobs themselves are never written" \
    eval "rule_matches ClusterRole '$out' bmsjobs 'create|update|patch|delete|deletecollection' || rule_matches Role '$out' bmsjobs 'create|update|patch|delete|deletecollection'"
  refute "$name: no ClusterRole touches Leases" rule_matches ClusterRole "$out" leases '.*'
}

check_default() {
  local out="$work/default.yaml"
  check "default: ClusterRole gets, lists and watches BmsJobs" \
    eval "rules ClusterRole '$out' | grep bmsjobs\\\" | grep -q '\"get\", \"list\", \"watch\"'"
  check "default: ClusterRole patches bmsjobs/status only" \
    eval "rules ClusterRole '$out' | grep -q 'resources: \[\"bmsjobs/status\"\] *verbs: \[\"patch\"\]'"
  check "default: ClusterRole gets Secrets" rule_matches ClusterRole "$out" secrets get
  check "default: ClusterRole creates and patches events.k8s.io Events" \
    eval "rules ClusterRole '$out' | grep 'events.k8s.io' | grep -q '\"create\", \"patch\"'"
  check "default: ClusterRole creates and patches core Events" \
    eval "rules ClusterRole '$out' | grep 'apiGroups: \[\"\"\] *resources: \[\"events\"\]' | grep -q '\"create\", \"patch\"'"
  check "default: ClusterRoleBinding to the ServiceAccount" has "$out" '^kind: ClusterRoleBinding$'
  check "default: ServiceAccount rendered" has "$out" '^kind: ServiceAccount$'
  check "default: Service exposes port http" eval "has '$out' '^kind: Service$' && has '$out' 'targetPort: http'"
  check "default: watches all namespaces (no --namespaces)" lacks "$out" '--namespaces'
  check "default: one replica, no leader election" \
    eval "has '$out' '^  replicas: 1$' && lacks '$out' '--leader-election' && lacks '$out' leases && lacks '$out' Recreate"
  check "default: no default credentials env" lacks "$out" HUAWEICLOUD_SDK
  check "default: no ServiceMonitor, PrometheusRule or dashboard" \
    eval "lacks '$out' '^kind: (ServiceMonitor|PrometheusRule)$' && lacks '$out' grafana_dashboard"
  check "default: image tag defaults to appVersion" has "$out" "image: \"bms-job-operator:$(awk '/^appVersion:/ { gsub(/"/, "", $2); print $2 }' "$chart/Chart.yaml")\""
  check "default: chart CRD is shipped in crds/ (not templated)" lacks "$out" '^kind: CustomResourceDefinition$'
}

check_namespaced() {
  local out="$work/namespaced.yaml"
  check "namespaced: no ClusterRole at all" lacks "$out" '^kind: ClusterRole$'
  check "namespaced: no ClusterRoleBinding" lacks "$out" '^kind: ClusterRoleBinding$'
  check "namespaced: a Role for BmsJobs in team-a" eval "rules Role '$out' | grep '^team-a/' | grep -q bmsjobs"
  check "namespaced: a Role for BmsJobs in team-b" eval "rules Role '$out' | grep '^team-b/' | grep -q bmsjobs"
  check "namespaced: Roles get Secrets in team-a and team-b" \
    eval "[[ \$(rules Role '$out' | grep -c 'secrets') -eq 2 ]]"
  check "namespaced: RoleBindings in team-a and team-b" \
    eval "[[ \$(count '$out' '^kind: RoleBinding$') -eq 2 ]]"
  check "namespaced: --namespaces=team-a,team-b" has "$out" '^ +- --namespaces=team-a,team-b$'
}

check_leader_election() {
  local out="$work/leader-election.yaml"
  check "leader-election: two replicas" has "$out" '^  replicas: 2$'
  check "leader-election: --leader-election passed" has "$out" '^ +- --leader-election$'
  check "leader-election: Recreate rollout (only the Lease holder is ready)" has "$out" '^    type: Recreate$'
  check "leader-election: lease name from values" has "$out" '^ +- --leader-election-lease-name=bms-job-operator-leader$'
  check "leader-election: Lease Role in the release namespace" \
    eval "rules Role '$out' | grep '^$namespace/' | grep leases | grep -q '\"get\", \"create\", \"update\", \"patch\"'"
  check "leader-election: Lease RoleBinding" has "$out" 'name: bms-bms-job-operator-leader-election'
  refute "leader-election: Lease Role grants nothing else" \
    eval "rules Role '$out' | grep leases | grep -Eq '\"(list|watch|delete)\"'"
}

check_monitoring() {
  local out="$work/monitoring.yaml"
  check "monitoring: ServiceMonitor scrapes /metrics on port http" \
    eval "has '$out' '^kind: ServiceMonitor$' && grep -A2 -E '^ +- port: http$' '$out' | grep -q 'path: /metrics'"
  check "monitoring: ServiceMonitor carries extra labels" has "$out" '^    release: kube-prometheus-stack$'
  check "monitoring: PrometheusRule rendered" has "$out" '^kind: PrometheusRule$'
  check "monitoring: alert BmsJobFailed on bms_operator_jobs{phase=\"Failed\"}" \
    eval "has '$out' 'alert: BmsJobFailed' && has '$out' 'bms_operator_jobs\{phase=\"Failed\"\}\)? > 0'"
  check "monitoring: auth alert on outcome=\"auth\" or breaker open" \
    eval "has '$out' 'increase\(bms_operator_cloud_requests_total\{outcome=\"auth\"\}\[10m\]\)\) > 0' && has '$out' 'bms_operator_auth_breaker_open'"
  check "monitoring: cloud error rate alert with the configured ratio" \
    eval "has '$out' 'alert: BmsCloudErrorRateHigh' && has '$out' '> 0\.1$'"
  check "monitoring: alert templates keep Prometheus' {{ \$value }}" has "$out" '\{\{ \$value'
  check "monitoring: dashboard ConfigMap labelled grafana_dashboard: \"1\"" has "$out" '^    grafana_dashboard: "1"$'
  check "monitoring: dashboard JSON embedded" has "$out" '"uid": "bms-job-operator"'
}

check_credentials() {
  local out="$work/default-credentials.yaml"
  check "default-credentials: HUAWEICLOUD_SDK_AK from the Secret's accessKey" \
    eval "grep -A5 'name: HUAWEICLOUD_SDK_AK$' '$out' | grep -q 'name: huaweicloud-default-credentials' && grep -A5 'name: HUAWEICLOUD_SDK_AK$' '$out' | grep -q 'key: accessKey'"
  check "default-credentials: HUAWEICLOUD_SDK_SK from the Secret's secretKey" \
    eval "grep -A5 'name: HUAWEICLOUD_SDK_SK$' '$out' | grep -q 'key: secretKey'"
  check "default-credentials: HUAWEICLOUD_SDK_SECURITY_TOKEN optional" \
    eval "grep -A6 'name: HUAWEICLOUD_SDK_SECURITY_TOKEN$' '$out' | grep -q 'optional: true'"
  check "default-credentials: log flags from values" \
    eval "has '$out' '- --log-level=debug$' && has '$out' '- --log-format=text$'"
  check "default-credentials: image tag and pull secret from values" \
    eval "has '$out' 'image: \"bms-job-operator:0\.1\.0-rc\.1\"' && has '$out' 'name: registry-credentials'"
}

# refused NAME FIELD-REGEX VALUES-YAML: the schema must refuse the values, in
# both helm template and helm lint, with a message naming the field.
refused() {
  local name=$1 field=$2 values output
  invalid_count=$((invalid_count + 1))
  values="$work/invalid-$invalid_count.yaml"
  printf '%s\n' "$3" >"$values"
  if output=$("$helm" template "$release" "$chart" --values "$values" 2>&1); then
    fail "schema refuses $name (helm template accepted it)"
  elif ! grep -Eq -- "$field" <<<"$output"; then
    fail "schema refuses $name with a message naming $field"
    echo "$output" | sed 's/^/     /'
  else
    pass "schema refuses $name: $(grep -Eo -- ".{0,40}$field.{0,60}" <<<"$output" | head -1)"
  fi
  refute "helm lint refuses $name" "$helm" lint --strict "$chart" --values "$values"
}

# Each case: description, the field as helm's schema errors name it, values.
check_schema() {
  invalid_count=0
  refused 'replicaCount: "two"' "'/replicaCount'" 'replicaCount: "two"'
  refused 'logFormat: xml' "'/logFormat'" 'logFormat: xml'
  refused 'logLevel: verbose' "'/logLevel'" 'logLevel: verbose'
  refused 'a misspelt top-level key (replicas)' "'replicas' not allowed" 'replicas: 2'
  refused 'a misspelt nested key (poll.interval)' "'/poll'.*'interval' not allowed" $'poll:\n  interval: 30s'
  refused 'poll.defaultInterval: 15 seconds' "'/poll/defaultInterval'" $'poll:\n  defaultInterval: 15 seconds'
  refused 'cloudRateLimit.rps: 0' "'/cloudRateLimit/rps'" $'cloudRateLimit:\n  rps: 0'
  refused 'concurrency: -1' "'/concurrency'" 'concurrency: -1'
  refused 'watchNamespaces: [Team_A]' "'/watchNamespaces/0'" $'watchNamespaces:\n  - Team_A'
  refused 'watchNamespaces: team-a (not a list)' "'/watchNamespaces'" 'watchNamespaces: team-a'
  refused 'image.tag: 1.2 (a number)' "'/image/tag'" $'image:\n  tag: 1.2'
  refused 'defaultCredentials.existingSecret: Bad_Name' "'/defaultCredentials/existingSecret'" $'defaultCredentials:\n  existingSecret: Bad_Name'
}

# The chart's CRD must be the one the operator generates, once it exists.
check_crd() {
  local generated="$repo_root/crds/bmsjob.yaml" shipped="$chart/crds/bmsjob.yaml"
  check "chart CRD names bmsjobs.bms.operator.dev, kind BmsJob, short name bmsj" \
    eval "has '$shipped' '^  name: bmsjobs\.bms\.operator\.dev$' && has '$shipped' 'kind: BmsJob$' && has '$shipped' '- bmsj$'"
  if [[ -f $generated ]]; then
    check "chart CRD is identical to crds/bmsjob.yaml" cmp -s "$generated" "$shipped"
  else
    echo "skip crds/bmsjob.yaml not generated yet: nothing to compare the chart's CRD with"
  fi
}

main() {
  [[ -x $helm ]] || die "helm not found at $helm; build it with hack/build-tools.sh helm or set HELM"
  echo "check-chart: $("$helm" version --short 2>/dev/null || echo 'helm (version unknown)') on $chart"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT

  check_crd
  render default
  check_common default
  check_default

  local values name
  for values in "$chart"/ci/*-values.yaml; do
    name=$(basename "$values" -values.yaml)
    render "$name" "$values"
    check_common "$name"
  done
  check_namespaced
  check_leader_election
  check_monitoring
  check_credentials
  check_schema

  echo "check-chart: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

main "$@"
