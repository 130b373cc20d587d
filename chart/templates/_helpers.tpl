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

{{- define "edge.bootstrapName" -}}
{{- printf "%s-bootstrap" (include "edge.fullname" .) | trunc 63 | trimSuffix "-" -}}
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

{{- define "edge.bootstrapImage" -}}
{{- $img := .Values.bootstrap.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The workload image is tagged with the backend env (prod, stg, dev) unless image.tag is set. */}}
{{- define "edge.workloadImage" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Values.backend.env $img.tag) -}}
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

{{- define "edge.caVolume" -}}
{{- $ca := .Values.backend.caBundle -}}
{{- if $ca.configMapName }}
- name: ca-bundle
  configMap:
    name: {{ $ca.configMapName }}
    items:
      - key: {{ $ca.key }}
        path: {{ $ca.key }}
{{- else if $ca.secretName }}
- name: ca-bundle
  secret:
    secretName: {{ $ca.secretName }}
    items:
      - key: {{ $ca.key }}
        path: {{ $ca.key }}
{{- end }}
{{- end -}}

{{- define "edge.bootstrapVolumeMounts" -}}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- if include "edge.caEnabled" . }}
- name: ca-bundle
  mountPath: {{ include "edge.caDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The proxy variables of every container. With any proxy value set, NO_PROXY always keeps
the cluster's own names and loopback off the proxy, so a proxy setting for the backend
cannot send API server or service traffic through it; proxy.noProxy adds to them.
*/}}
{{- define "edge.proxyEnv" -}}
{{- $p := .Values.proxy -}}
{{- with $p.httpsProxy }}
- name: HTTPS_PROXY
  value: {{ . | quote }}
{{- end }}
{{- with $p.httpProxy }}
- name: HTTP_PROXY
  value: {{ . | quote }}
{{- end }}
{{- if or $p.httpsProxy $p.httpProxy $p.noProxy }}
- name: NO_PROXY
  value: {{ include "edge.noProxy" . | quote }}
{{- end }}
{{- end -}}

{{- define "edge.noProxy" -}}
{{- $domain := .Values.clusterDomain -}}
{{- $entries := list ".svc" (printf ".svc.%s" $domain) "kubernetes.default.svc" "kubernetes.default" "127.0.0.1" "localhost" -}}
{{- range splitList "," .Values.proxy.noProxy -}}
{{- with trim . }}{{ $entries = append $entries . }}{{ end -}}
{{- end -}}
{{- uniq $entries | join "," -}}
{{- end -}}

{{/*
The environment of every container that runs the bootstrap image (the init container,
the helm test and the offboarding hook): the variables of bootstrap/config.
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
- name: TRACEBLOC_CREDENTIAL_SECRET
  value: {{ include "edge.credentialSecret" . | quote }}
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
{{- with .Values.legacySecret.name }}
- name: TRACEBLOC_LEGACY_SECRET
  value: {{ . | quote }}
{{- end }}
{{- with .Values.client.name }}
- name: TRACEBLOC_CLIENT_NAME
  value: {{ . | quote }}
{{- end }}
{{- with .Values.client.location }}
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

{{/* Scheduling and networking shared by the workload pod and the hook pods. */}}
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

{{/* Combinations the schema cannot express. */}}
{{- define "edge.validate" -}}
{{- $ca := .Values.backend.caBundle -}}
{{- if and $ca.configMapName $ca.secretName -}}
{{- fail "backend.caBundle: set configMapName or secretName, not both" -}}
{{- end -}}
{{- if and .Values.legacySecret.name (eq .Values.legacySecret.name (include "edge.credentialSecret" .)) -}}
{{- fail (printf "legacySecret.name is the credential Secret itself (%q): name the previous install's Secret, or leave it empty" .Values.legacySecret.name) -}}
{{- end -}}
{{- $global := .Values.global | default dict -}}
{{- if and $global.clusterId .Values.clusterId (ne $global.clusterId .Values.clusterId) -}}
{{- fail (printf "global.clusterId (%s) and clusterId (%s) differ: set one of them" $global.clusterId .Values.clusterId) -}}
{{- end -}}
{{- end -}}

{{/* The workload gets a Kubernetes token of its own ServiceAccount only when values ask for it. */}}
{{- define "edge.workloadToken" -}}
{{- $sa := .Values.workload.serviceAccount -}}
{{- if or $sa.automount $sa.rules }}true{{ end -}}
{{- end -}}

{{/*
The pod spec of a hook that runs the bootstrap image with a subcommand (check, revoke):
the bootstrap's ServiceAccount, token, environment and security context.
Call with (dict "ctx" $ "args" (list "check")).
*/}}
{{- define "edge.hookPodSpec" -}}
{{- $ := .ctx -}}
serviceAccountName: {{ include "edge.bootstrapName" $ }}
automountServiceAccountToken: false
enableServiceLinks: false
restartPolicy: Never
securityContext:
  {{- include "edge.podSecurityContext" $ | nindent 2 }}
{{- include "edge.podPlacement" $ }}
containers:
  - name: {{ first .args }}
    image: {{ include "edge.bootstrapImage" $ }}
    imagePullPolicy: {{ $.Values.bootstrap.image.pullPolicy }}
    args: {{ toJson .args }}
    env:
      {{- include "edge.bootstrapEnv" $ | nindent 6 }}
    securityContext:
      {{- include "edge.bootstrapSecurityContext" $ | nindent 6 }}
    {{- with $.Values.bootstrap.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      {{- include "edge.bootstrapVolumeMounts" $ | nindent 6 }}
volumes:
  {{- include "edge.tokenVolume" $ | nindent 2 }}
  {{- include "edge.caVolume" $ | nindent 2 }}
{{- end -}}
