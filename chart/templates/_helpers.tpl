{{/*
Names. The workload, its ServiceAccount and the Deployment are "<release>" (or
fullnameOverride); everything else derives from it.
*/}}
{{- define "edge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edge.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Role, RoleBinding and ClusterRole(Binding) of the bootstrap. */}}
{{- define "edge.bootstrapName" -}}
{{- printf "%s-bootstrap" (include "edge.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Deployment (and its ServiceAccount) that runs the bootstrap when client.enabled is false. */}}
{{- define "edge.enrollmentName" -}}
{{- printf "%s-enrollment" (include "edge.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The ServiceAccount the bootstrap runs as: the client chart's jobs-manager's (the
bootstrap is that pod's init container; the client chart names it after the release,
whatever fullnameOverride says), else the enrollment Deployment's own.
*/}}
{{- define "edge.serviceAccount" -}}
{{- if .Values.client.enabled -}}
{{- printf "%s-jobs-manager" .Release.Name -}}
{{- else -}}
{{- include "edge.enrollmentName" . -}}
{{- end -}}
{{- end -}}

{{/* The Deployment whose pod runs the bootstrap (named as its ServiceAccount), for the NOTES. */}}
{{- define "edge.bootstrapDeployment" -}}
{{- include "edge.serviceAccount" . -}}
{{- end -}}

{{/* The object only the post-renderer consumes; its name is the fix for a failed install. */}}
{{- define "edge.wiringName" -}}
{{- printf "%s-install-with-post-renderer-tracebloc-postrender" .Release.Name -}}
{{- end -}}

{{/*
The client chart's node-agents namespace, where its resource-monitor DaemonSet reads the
credential, so the bootstrap keeps a copy there: empty when the client is off, its
resource monitor is off, or it shares the release namespace. The defaults are the client
chart's own, for renders without the dependency.
*/}}
{{- define "edge.nodeAgentsNamespace" -}}
{{- $c := .Values.client -}}
{{- if and $c.enabled (ne (toString (dig "resourceMonitor" true $c)) "false") -}}
{{- $ns := dig "nodeAgents" "namespace" "name" "tracebloc-node-agents" $c -}}
{{- if ne $ns .Release.Namespace }}{{ $ns }}{{ end -}}
{{- end -}}
{{- end -}}

{{- define "edge.clientChart" -}}
{{- range .Chart.Dependencies -}}
{{- if eq .Name "client" }}{{ printf "client-%s" .Version }}{{ end -}}
{{- end -}}
{{- end -}}

{{/*
The Secret whose client this install adopts: legacySecret.name as it is, else for
migrateFrom.release the copy its hook makes of <migrateFrom>-secrets. The bootstrap cannot
read <migrateFrom>-secrets itself: when this release takes over that release (the same
name), the post-renderer strips CLIENT_ID and CLIENT_PASSWORD from it and the upgrade
deletes them from the live Secret before the bootstrap runs.
*/}}
{{- define "edge.legacySecret" -}}
{{- if .Values.legacySecret.name -}}
{{- .Values.legacySecret.name -}}
{{- else if .Values.migrateFrom.release -}}
{{- include "edge.legacyCopy" . -}}
{{- end -}}
{{- end -}}

{{/* The migration hook's copy of <migrateFrom>-secrets' credential. */}}
{{- define "edge.legacyCopy" -}}
{{- printf "%s-legacy-credentials" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The migration hook's Job, ServiceAccount, Role and RoleBinding. */}}
{{- define "edge.migrationName" -}}
{{- printf "%s-migrate" (include "edge.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ClusterRole and its binding are cluster-scoped: the namespace keeps two releases apart. */}}
{{- define "edge.clusterRoleName" -}}
{{- printf "%s-bootstrap-%s" (include "edge.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The admission policy and its binding are cluster-scoped too. */}}
{{- define "edge.admissionPolicyName" -}}
{{- printf "%s-bootstrap-secrets-%s" (include "edge.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "edge.credentialSecret" -}}
{{- default (printf "%s-credentials" (include "edge.fullname" .)) .Values.credentialSecret.name -}}
{{- end -}}

{{/* The Lease the bootstrap takes while it enrolls (bootstrap/bootstrapper). */}}
{{- define "edge.leaseName" -}}
{{- printf "%s-lock" (include "edge.credentialSecret" .) -}}
{{- end -}}

{{/* global.clusterId wins over clusterId, so that an umbrella chart sets it once. */}}
{{- define "edge.clusterId" -}}
{{- $global := .Values.global | default dict -}}
{{- default .Values.clusterId $global.clusterId -}}
{{- end -}}

{{- define "edge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels of every object: the recommended app.kubernetes.io/* set, helm.sh/chart, and the
cluster-id label the post-renderer would add (for GitOps users who cannot run it).
Call with (dict "ctx" $ "component" "bootstrap").
*/}}
{{- define "edge.labels" -}}
{{ include "edge.selectorLabels" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: tracebloc
helm.sh/chart: {{ include "edge.chart" .ctx }}
{{- /* Where the post-renderer learns the release namespace: Helm 3 passes it none. */}}
tracebloc.io/release-namespace: {{ .ctx.Release.Namespace }}
{{- with include "edge.clusterId" .ctx }}
tracebloc.io/cluster-id: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The bootstrap image; global.imageRegistry (the client chart's mirror setting) re-homes
it onto that registry, as the client chart does with its own images.
*/}}
{{- define "edge.bootstrapImage" -}}
{{- $img := .Values.bootstrap.image -}}
{{- $repo := $img.repository -}}
{{- with dig "imageRegistry" "" (.Values.global | default dict) -}}
{{- $parts := splitList "/" $repo -}}
{{- $first := first $parts -}}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $parts = rest $parts -}}
{{- end -}}
{{- $repo = printf "%s/%s" . (join "/" $parts) -}}
{{- end -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Pod Security "restricted" for every container that runs the bootstrap image. */}}
{{- define "edge.bootstrapSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "edge.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Where the CA bundle is mounted, and the file TRACEBLOC_CA_FILE names. */}}
{{- define "edge.caDir" -}}/etc/tracebloc/ca{{- end -}}

{{- define "edge.caEnabled" -}}
{{- $ca := .Values.backend.caBundle -}}
{{- if or $ca.configMapName $ca.secretName }}true{{ end -}}
{{- end -}}

{{/*
With an extra CA, the bootstrap in the jobs-manager pod writes the CA bundle of the client's
containers (the image's roots and that CA) into this shared emptyDir; the post-renderer
mounts it into the containers that talk to the backend (spec.trust of the wiring object).
*/}}
{{- define "edge.trustDir" -}}/etc/tracebloc/trust{{- end -}}
{{- define "edge.trustFile" -}}ca-certificates.crt{{- end -}}

{{- define "edge.trustVolume" -}}
- name: bootstrap-trust
  emptyDir:
    sizeLimit: 4Mi
{{- end -}}

{{/* The service account token, projected into the containers that run the bootstrap image only. */}}
{{- define "edge.tokenVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3600
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end -}}

{{/*
The volumes the bootstrap container mounts besides the token: a writable /tmp and the CA
bundle. Their names carry "bootstrap" so they cannot clash with the client chart's volumes
in the jobs-manager pod.
*/}}
{{- define "edge.bootstrapVolumes" -}}
- name: bootstrap-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- $ca := .Values.backend.caBundle -}}
{{- if $ca.configMapName }}
- name: bootstrap-ca-bundle
  configMap:
    name: {{ $ca.configMapName }}
    items:
      - key: {{ $ca.key }}
        path: {{ $ca.key }}
{{- else if $ca.secretName }}
- name: bootstrap-ca-bundle
  secret:
    secretName: {{ $ca.secretName }}
    items:
      - key: {{ $ca.key }}
        path: {{ $ca.key }}
{{- end }}
{{- end -}}

{{/*
Call with (dict "ctx" $ "token" true) in the chart's own pods, whose token volume
(edge.tokenVolume) reaches the bootstrap container alone. In the jobs-manager pod
("token" false) the bootstrap uses the token the pod mounts into every container.
*/}}
{{- define "edge.bootstrapVolumeMounts" -}}
{{- if .token }}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end }}
- name: bootstrap-tmp
  mountPath: /tmp
{{- if include "edge.caEnabled" .ctx }}
- name: bootstrap-ca-bundle
  mountPath: {{ include "edge.caDir" .ctx }}
  readOnly: true
{{- if .trust }}
- name: bootstrap-trust
  mountPath: {{ include "edge.trustDir" .ctx }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The proxy variables of the bootstrap, from the client chart's own keys (client.env.
HTTP_PROXY_HOST, _PORT, _USERNAME, _PASSWORD), as that chart builds them for its
containers. NO_PROXY always keeps the cluster's own names and loopback off the proxy, so
the proxy for the backend cannot take API server traffic; client.env.NO_PROXY adds to them.
*/}}
{{- define "edge.proxyEnv" -}}
{{- $env := .Values.client.env | default dict -}}
{{- with $env.HTTP_PROXY_HOST }}
{{- $hostport := . -}}
{{- with $env.HTTP_PROXY_PORT }}{{ $hostport = printf "%s:%v" $hostport . }}{{ end -}}
{{- $cred := "" -}}
{{- with $env.HTTP_PROXY_USERNAME }}{{ $cred = printf "%s:%s@" . ($env.HTTP_PROXY_PASSWORD | default "") }}{{ end -}}
{{- $url := printf "http://%s%s" $cred $hostport }}
- name: HTTPS_PROXY
  value: {{ $url | quote }}
- name: HTTP_PROXY
  value: {{ $url | quote }}
- name: NO_PROXY
  value: {{ include "edge.noProxy" $ | quote }}
{{- end }}
{{- end -}}

{{- define "edge.noProxy" -}}
{{- $domain := .Values.clusterDomain -}}
{{- $entries := list ".svc" (printf ".svc.%s" $domain) "kubernetes.default.svc" "kubernetes.default" "127.0.0.1" "localhost" -}}
{{- $env := .Values.client.env | default dict -}}
{{- range splitList "," ($env.NO_PROXY | default "") -}}
{{- with trim . }}{{ $entries = append $entries . }}{{ end -}}
{{- end -}}
{{- uniq $entries | join "," -}}
{{- end -}}

{{/*
The environment of every container that runs the bootstrap image (the init container,
the enrollment's hold container, the helm test and the offboarding hook): the variables
of bootstrap/config.
*/}}
{{- define "edge.bootstrapEnv" -}}
{{- $b := .Values.bootstrap -}}
- name: TRACEBLOC_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: TRACEBLOC_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: TRACEBLOC_POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
- name: TRACEBLOC_EXPECTED_CLUSTER_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.labels['tracebloc.io/cluster-id']
- name: TRACEBLOC_RELEASE
  value: {{ .Release.Name | quote }}
- name: TRACEBLOC_CREDENTIAL_SECRET
  value: {{ include "edge.credentialSecret" . | quote }}
- name: TRACEBLOC_NODE_AGENTS_NAMESPACE
  value: {{ include "edge.nodeAgentsNamespace" . | quote }}
{{- if .Values.backend.url }}
- name: TRACEBLOC_API_URL
  value: {{ .Values.backend.url | quote }}
{{- else }}
- name: TRACEBLOC_ENV
  value: {{ .Values.backend.env | quote }}
{{- end }}
{{- with .Values.backend.verificationHosts }}
- name: TRACEBLOC_VERIFICATION_HOSTS
  value: {{ join "," . | quote }}
{{- end }}
{{- with include "edge.legacySecret" . }}
- name: TRACEBLOC_LEGACY_SECRET
  value: {{ . | quote }}
{{- end }}
{{- with .Values.newClient.name }}
- name: TRACEBLOC_CLIENT_NAME
  value: {{ . | quote }}
{{- end }}
{{- with .Values.newClient.location }}
- name: TRACEBLOC_LOCATION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.enrollToken.secretName }}
- name: TRACEBLOC_ENROLL_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.enrollToken.key }}
{{- end }}
{{- if include "edge.caEnabled" . }}
- name: TRACEBLOC_CA_FILE
  value: {{ printf "%s/%s" (include "edge.caDir" .) .Values.backend.caBundle.key | quote }}
{{- end }}
- name: TRACEBLOC_LOG_FORMAT
  value: {{ $b.logFormat | quote }}
- name: TRACEBLOC_LOG_LEVEL
  value: {{ $b.logLevel | quote }}
- name: TRACEBLOC_QR
  value: {{ $b.qr | quote }}
- name: TRACEBLOC_VERIFY_CREDENTIAL
  value: {{ $b.verifyCredential | quote }}
- name: TRACEBLOC_RESET_WINDOW
  value: {{ $b.resetWindow | quote }}
- name: TRACEBLOC_LEASE_DURATION
  value: {{ $b.leaseDuration | quote }}
- name: TRACEBLOC_HTTP_TIMEOUT
  value: {{ $b.httpTimeout | quote }}
- name: TRACEBLOC_CHART_VERSION
  value: {{ .Chart.Version | quote }}
{{- include "edge.proxyEnv" . }}
{{- with $b.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The bootstrap init container, defined once: the post-renderer puts it first in the client
chart's jobs-manager pod (from the wiring object), the enrollment Deployment runs it
itself; the hooks run it with a subcommand. Call with (dict "ctx" $ "token" bool), as
edge.bootstrapVolumeMounts, and optionally "args" (list "check"), which also names it;
"trust" true (the jobs-manager pod) writes the CA bundle of the client's containers.
*/}}
{{- define "edge.bootstrapContainer" -}}
{{- $ := .ctx -}}
name: {{ .args | default (list "bootstrap") | first }}
image: {{ include "edge.bootstrapImage" $ }}
imagePullPolicy: {{ $.Values.bootstrap.image.pullPolicy }}
{{- with .args }}
args: {{ toJson . }}
{{- end }}
env:
  {{- include "edge.bootstrapEnv" $ | nindent 2 }}
  {{- if and .trust (include "edge.caEnabled" $) }}
  - name: TRACEBLOC_TRUST_FILE
    value: {{ printf "%s/%s" (include "edge.trustDir" $) (include "edge.trustFile" $) | quote }}
  {{- end }}
  {{- with .env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
securityContext:
  {{- include "edge.bootstrapSecurityContext" $ | nindent 2 }}
{{- with $.Values.bootstrap.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  {{- include "edge.bootstrapVolumeMounts" . | trim | nindent 2 }}
{{- end -}}

{{/* Scheduling and networking of the chart's own pods (enrollment, hooks). */}}
{{- define "edge.podPlacement" -}}
{{- if .Values.hostNetwork }}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- with .Values.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The value the client chart requires for clientId and clientPassword; the post-renderer strips it. */}}
{{- define "edge.credentialPlaceholder" -}}set-by-tracebloc-postrender{{- end -}}

{{/* Combinations the schema cannot express. */}}
{{- define "edge.validate" -}}
{{- $ca := .Values.backend.caBundle -}}
{{- if and $ca.configMapName $ca.secretName -}}
{{- fail "backend.caBundle: set configMapName or secretName, not both" -}}
{{- end -}}
{{- $legacy := include "edge.legacySecret" . -}}
{{- if and .Values.migrateFrom.release (not .Values.legacySecret.name) -}}
{{- $source := printf "%s-secrets" .Values.migrateFrom.release -}}
{{- if eq $source (include "edge.credentialSecret" .) -}}
{{- fail (printf "legacySecret.name (or migrateFrom.release's <release>-secrets) is the credential Secret itself (%q): name the previous install's Secret, or leave it empty" $source) -}}
{{- end -}}
{{- end -}}
{{- if and $legacy (eq $legacy (include "edge.credentialSecret" .)) -}}
{{- fail (printf "legacySecret.name (or migrateFrom.release's <release>-secrets) is the credential Secret itself (%q): name the previous install's Secret, or leave it empty" $legacy) -}}
{{- end -}}
{{- if and $legacy .Values.client.enabled (eq $legacy (printf "%s-secrets" .Release.Name)) -}}
{{- fail (printf "legacySecret.name is %q, the Secret this release's client chart renders (with the placeholder the post-renderer strips): name the previous install's Secret, or leave it empty" $legacy) -}}
{{- end -}}
{{- $global := .Values.global | default dict -}}
{{- if and $global.clusterId .Values.clusterId (ne $global.clusterId .Values.clusterId) -}}
{{- fail (printf "global.clusterId (%s) and clusterId (%s) differ: set one of them" $global.clusterId .Values.clusterId) -}}
{{- end -}}
{{- $placeholder := include "edge.credentialPlaceholder" . -}}
{{- range $key := list "clientId" "clientPassword" -}}
{{- if ne (toString (index $.Values.client $key)) $placeholder -}}
{{- fail (printf "client.%s is set: the edge never takes a credential in values (the bootstrap obtains it, and the post-renderer wires it in); remove client.%s. To adopt an existing client set migrateFrom.release (a tracebloc/client release in this namespace) or legacySecret.name" $key $key) -}}
{{- end -}}
{{- end -}}
{{- if dig "autoUpgrade" "enabled" false .Values.client -}}
{{- fail "client.autoUpgrade.enabled: the client chart's upgrade CronJob runs `helm upgrade` with the tracebloc/client chart and no post-renderer, which would undo the edge wiring; leave it off and upgrade with `helm upgrade ... --post-renderer tracebloc-postrender`" -}}
{{- end -}}
{{- end -}}

{{/*
The pod spec of a hook that runs the bootstrap image with a subcommand (check, revoke):
the bootstrap's ServiceAccount, a token of its own, environment and security context.
Call with (dict "ctx" $ "args" (list "check")), and optionally "serviceAccount" (a hook
that runs before the bootstrap's ServiceAccount exists) and "env" (more EnvVars).
*/}}
{{- define "edge.hookPodSpec" -}}
{{- $ := .ctx -}}
serviceAccountName: {{ .serviceAccount | default (include "edge.serviceAccount" $) }}
automountServiceAccountToken: false
enableServiceLinks: false
restartPolicy: Never
securityContext:
  {{- include "edge.podSecurityContext" $ | nindent 2 }}
{{- include "edge.podPlacement" $ }}
containers:
  - {{- include "edge.bootstrapContainer" (dict "ctx" $ "token" true "args" .args "env" .env) | nindent 4 }}
volumes:
  {{- include "edge.tokenVolume" $ | nindent 2 }}
  {{- include "edge.bootstrapVolumes" $ | nindent 2 }}
{{- end -}}
