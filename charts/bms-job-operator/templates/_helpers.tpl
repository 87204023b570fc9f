{{/* Names, labels and derived settings shared by the templates. */}}

{{/* Chart name, or nameOverride. */}}
{{- define "bms-job-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: fullnameOverride, or release name plus chart name. */}}
{{- define "bms-job-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "bms-job-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "bms-job-operator.labels" -}}
helm.sh/chart: {{ include "bms-job-operator.chart" . }}
{{ include "bms-job-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bms-job-operator
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "bms-job-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bms-job-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* ServiceAccount the operator runs as. */}}
{{- define "bms-job-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bms-job-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; the tag defaults to appVersion. */}}
{{- define "bms-job-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when leader election is on: asked for, or more than one replica. */}}
{{- define "bms-job-operator.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* Lease used for leader election. */}}
{{- define "bms-job-operator.leaseName" -}}
{{- default (include "bms-job-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Rules for BmsJobs, their status, credentials Secrets and Events; the same
     in the ClusterRole and in each namespace's Role. */}}
{{- define "bms-job-operator.watchRules" -}}
- apiGroups: ["bms.operator.dev"]
  resources: ["bmsjobs"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["bms.operator.dev"]
  resources: ["bmsjobs/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
