{{/*
Shared names, labels and the pod template of the cotel chart. The pod template
is one helper so that the DaemonSet and the Deployment cannot drift apart.
*/}}

{{- define "cotel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name; a release already named after the chart is not repeated. */}}
{{- define "cotel.fullname" -}}
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

{{- define "cotel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fails the render on a mode the chart has no workload for. */}}
{{- define "cotel.mode" -}}
{{- if not (has .Values.mode (list "daemonset" "deployment")) }}
{{- fail (printf "mode must be daemonset or deployment, not %q" .Values.mode) }}
{{- end }}
{{- .Values.mode }}
{{- end }}

{{/* The component label tells an agent from a gateway when both run in one namespace. */}}
{{- define "cotel.component" -}}
{{- if eq (include "cotel.mode" .) "daemonset" }}agent{{ else }}gateway{{ end }}
{{- end }}

{{- define "cotel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cotel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "cotel.component" . }}
{{- end }}

{{- define "cotel.labels" -}}
helm.sh/chart: {{ include "cotel.chart" . }}
{{ include "cotel.selectorLabels" . }}
app.kubernetes.io/version: {{ include "cotel.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "cotel.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "cotel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cotel.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cotel.configMapName" -}}
{{- if .Values.configMap.create }}
{{- include "cotel.fullname" . }}
{{- else }}
{{- required "configMap.existingName is required when configMap.create is false" .Values.configMap.existingName }}
{{- end }}
{{- end }}

{{/* Where the ConfigMap is mounted and the file cotel reads. */}}
{{- define "cotel.configDir" -}}/conf{{- end }}
{{- define "cotel.configFile" -}}{{ include "cotel.configDir" . }}/cotel.yaml{{- end }}

{{/*
The pod template shared by the DaemonSet and the Deployment. hostPort is only set
for the daemonset: a gateway's replicas would collide on a node's port.
*/}}
{{- define "cotel.podTemplate" -}}
{{- $isAgent := eq (include "cotel.mode" .) "daemonset" -}}
metadata:
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "cotel.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "cotel.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- if .Values.hostNetwork }}
  hostNetwork: true
  dnsPolicy: {{ default "ClusterFirstWithHostNet" .Values.dnsPolicy }}
  {{- else if .Values.dnsPolicy }}
  dnsPolicy: {{ .Values.dnsPolicy }}
  {{- end }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and .Values.storage.enabled (eq .Values.storage.type "hostPath")
             .Values.storage.hostPath.fixPermissions }}
  initContainers:
    - name: storage-permissions
      image: "{{ .Values.image.repository }}:{{ include "cotel.imageTag" . }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command:
        - chown
        - "{{ default 10001 .Values.podSecurityContext.runAsUser }}:{{ default 10001 .Values.podSecurityContext.runAsGroup }}"
        - {{ .Values.storage.mountPath | quote }}
      securityContext:
        runAsNonRoot: false
        runAsUser: 0
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        capabilities:
          drop: [ALL]
          add: [CHOWN]
      volumeMounts:
        - name: storage
          mountPath: {{ .Values.storage.mountPath }}
  {{- end }}
  containers:
    - name: cotel
      image: "{{ .Values.image.repository }}:{{ include "cotel.imageTag" . }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command:
        - {{ .Values.command.name }}
      args:
        - --config
        - {{ include "cotel.configFile" . }}
        {{- range .Values.command.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        {{- range $name, $port := .Values.ports }}
        {{- if $port.enabled }}
        - name: {{ $name }}
          containerPort: {{ $port.containerPort }}
          protocol: {{ default "TCP" $port.protocol }}
          {{- if and $isAgent $port.hostPort }}
          hostPort: {{ $port.hostPort }}
          {{- end }}
        {{- end }}
        {{- end }}
      env:
        - name: MY_POD_IP
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: status.podIP
        - name: K8S_NODE_NAME
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: spec.nodeName
        - name: K8S_NODE_IP
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: status.hostIP
        - name: K8S_POD_NAME
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: metadata.name
        - name: K8S_NAMESPACE
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: metadata.namespace
        {{- with .Values.extraEnvs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.extraEnvsFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.startupProbe }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: {{ include "cotel.configDir" . }}
          readOnly: true
        {{- if .Values.storage.enabled }}
        - name: storage
          mountPath: {{ .Values.storage.mountPath }}
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "cotel.configMapName" . }}
        items:
          - key: cotel.yaml
            path: cotel.yaml
    {{- if .Values.storage.enabled }}
    - name: storage
      {{- if eq .Values.storage.type "hostPath" }}
      hostPath:
        path: {{ .Values.storage.hostPath.path }}
        type: {{ .Values.storage.hostPath.type }}
      {{- else if eq .Values.storage.type "emptyDir" }}
      {{- with .Values.storage.emptyDir.sizeLimit }}
      emptyDir:
        sizeLimit: {{ . }}
      {{- else }}
      emptyDir: {}
      {{- end }}
      {{- else }}
      {{- fail (printf "storage.type must be emptyDir or hostPath, not %q" .Values.storage.type) }}
      {{- end }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
