{{/* Names, labels and images shared by the templates. */}}

{{- define "modelrollout.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name, suffixed with the chart name unless it holds it. */}}
{{- define "modelrollout.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelrollout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelrollout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "modelrollout.labels" -}}
{{ include "modelrollout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: modelrollout
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "modelrollout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelrollout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag or repository@digest of the operator image. */}}
{{- define "modelrollout.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The router image: the operator's unless router.image names another. */}}
{{- define "modelrollout.routerImage" -}}
{{- $router := .Values.router.image -}}
{{- if or $router.repository $router.tag -}}
{{- printf "%s:%s" (default .Values.image.repository $router.repository) (default (default .Chart.AppVersion .Values.image.tag) $router.tag) -}}
{{- else -}}
{{- include "modelrollout.image" . -}}
{{- end -}}
{{- end -}}

{{/* A router series -> the same series with a `rollout` label taken from its pod's name
       (<name>-router-<hash>-<id>), so the rules work with any scrape config that adds
       namespace and pod, not only with this chart's ServiceMonitor. */}}
{{- define "modelrollout.withRollout" -}}
label_replace({{ . }}, "rollout", "$1", "pod", "(.+)-router-[a-z0-9]+-[a-z0-9]+")
{{- end -}}
