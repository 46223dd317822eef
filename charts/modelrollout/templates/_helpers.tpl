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

{{/* The operator's rules on namespaced resources: in a ClusterRole (all namespaces) or in a
       Role per watched namespace (watchNamespaces); rbac.yaml adds what is cluster-wide only. */}}
{{- define "modelrollout.operatorRules" }}
# ModelRollouts: kopf lists and watches them; a reconcile reads the watched copy and GETs the
# object only when the watch is behind (a conflict on its status write); kopf PATCHes
# metadata for its finalizer (rollouts.mlops.dev/finalizer) and its annotations.
- apiGroups: ["rollouts.mlops.dev"]
  resources: ["modelrollouts"]
  verbs: ["get", "list", "watch", "patch"]
# Status is written whole with PUT (update), guarded by the resourceVersion just read.
- apiGroups: ["rollouts.mlops.dev"]
  resources: ["modelrollouts/status"]
  verbs: ["update"]
# Children carry ownerReferences with blockOwnerDeletion; clusters with the
# OwnerReferencesPermissionEnforcement admission plugin (e.g. OpenShift) require this.
- apiGroups: ["rollouts.mlops.dev"]
  resources: ["modelrollouts/finalizers"]
  verbs: ["update"]
# Deployments per revision, shadows and the builtin router: listed by label and watched
# (kopf wakes the rollout on a child's change), server-side applied (create + patch: an apply
# that creates the object is authorised as create too), deleted when a revision is retired.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# A retired revision whose template left the spec is scaled through the scale subresource.
- apiGroups: ["apps"]
  resources: ["deployments/scale"]
  verbs: ["patch"]
# Services the routers address (<name>-stable, <name>-candidate, shadows, the router's
# <name>): listed by label for clean-up, server-side applied, deleted.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "create", "patch", "delete"]
# The builtin router's table (ConfigMap <name>-routing): read back, server-side applied, and
# watched (label rollouts.mlops.dev/role=routing) so that a table deleted or edited by someone
# else is written again at once. Deleted with its ModelRollout by the garbage collector, never
# by the operator. (Each router's Role grants list and watch on its table, which RBAC lets
# the operator grant only because it holds them.)
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
{{- if not .Values.router.serviceAccountName }}
# Each builtin router runs as its own ServiceAccount <name>-router, bound by a Role of the
# same name to its table ConfigMap: server-side applied beside the router Deployment, owned
# by the ModelRollout (the garbage collector deletes them with it, never the operator).
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["create", "patch"]
# No bind or escalate: the Role grants only what the operator holds (the rule above).
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "patch"]
{{- end }}
# The builtin router's admin token (Secret <name>-router-admin): created once with a random
# token, never read or listed (the router reads it from its volume); patched only in its
# metadata (owner and labels) when a rollout deleted and created again takes it over.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "patch"]
# The NetworkPolicy that admits only Prometheus (router.adminPeers) to a router's admin port.
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["create", "patch"]
# Events on ModelRollouts (the operator's decisions, and kopf's warnings): core v1 only.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.rbac.gatewayAPI }}
# trafficRouting.gatewayAPI: the operator reads the named HTTPRoute and applies one rule.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "patch"]
{{- end }}
{{- if .Values.rbac.istio }}
# trafficRouting.istio: the operator reads the named VirtualService and applies one route.
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices"]
  verbs: ["get", "patch"]
{{- end }}
{{- end -}}
