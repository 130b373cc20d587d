package api

import "time"

// DeviceContext is the optional body of POST /device/code: what the bootstrap knows about
// the cluster it asks to connect, so that the approval page can show it. A backend that
// ignores the body answers as it does without one.
type DeviceContext struct {
	ClusterID         string `json:"cluster_id,omitempty"`
	Namespace         string `json:"namespace,omitempty"`
	ClientName        string `json:"client_name,omitempty"`
	KubernetesVersion string `json:"kubernetes_version,omitempty"`
	ChartVersion      string `json:"chart_version,omitempty"`
}

// DeviceCode is the answer of POST /device/code (RFC 8628 section 3.2).
type DeviceCode struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"` // seconds
	Interval                int    `json:"interval"`   // seconds
}

// Token is the answer of POST /device/token and POST /api-token-auth/.
type Token struct {
	Token string `json:"token"`
}

// UserInfo is the answer of GET /userinfo/.
type UserInfo struct {
	Email            string  `json:"email"`
	FirstName        string  `json:"first_name"`
	LastName         string  `json:"last_name"`
	Account          string  `json:"account"`
	AccountID        int64   `json:"account_id"`
	UserID           int64   `json:"user_id"`
	Type             string  `json:"type"`
	IsAccountAdmin   bool    `json:"is_account_admin"`
	IsPasswordChange bool    `json:"is_password_changed"`
	ProfileImage     *string `json:"profile_image"`
}

// Client status values of EdgeDevice.Status.
const (
	StatusOffline = 0
	StatusOnline  = 1
	StatusPending = 2
)

// CreatedBy is the user that created a client, as the backend embeds it.
type CreatedBy struct {
	ID           int64   `json:"id"`
	FirstName    string  `json:"first_name"`
	LastName     string  `json:"last_name"`
	IsActive     bool    `json:"is_active"`
	ProfileImage *string `json:"profile_image"`
}

// EdgeDevice is one client record of /edge-device/. Every field the backend sends is
// declared so that the development backend can answer in exactly the recorded shape;
// the bootstrap reads only a few of them.
type EdgeDevice struct {
	ID                    int64          `json:"id"`
	Account               int64          `json:"account"`
	Username              string         `json:"username"`
	FirstName             string         `json:"first_name"`
	Namespace             string         `json:"namespace"`
	Location              string         `json:"location"`
	LocationStatus        string         `json:"location_status"`
	Status                int            `json:"status"`
	ClusterID             *string        `json:"cluster_id"`
	LastInfoUpdate        *time.Time     `json:"last_info_update"`
	NumRunningExperiments int            `json:"num_running_experiments"`
	IsDecommissioned      bool           `json:"is_decommissioned"`
	DecommissionedAt      *time.Time     `json:"decommissioned_at"`
	DateJoined            time.Time      `json:"date_joined"`
	CreatedBy             *CreatedBy     `json:"created_by"`
	CarbonEstimated       bool           `json:"carbon_estimated"`
	CarbonFallbackZone    *string        `json:"carbon_fallback_zone"`
	CPUName               *string        `json:"cpu_name"`
	CPUNodes              map[string]any `json:"cpu_nodes"`
	GPUName               *string        `json:"gpu_name"`
	GPUNodes              map[string]any `json:"gpu_nodes"`
	MySQLService          string         `json:"mysql_service"`
	PodCPUCoresInitial    *float64       `json:"pod_cpu_cores_initial"`
	PodCPUCoresLimit      *float64       `json:"pod_cpu_cores_limit"`
	PodNumGPUsInitial     *float64       `json:"pod_num_gpus_initial"`
	PodNumGPUsLimit       *float64       `json:"pod_num_gpus_limit"`
	PodRAMInitial         *float64       `json:"pod_ram_initial"`
	PodRAMLimit           *float64       `json:"pod_ram_limit"`
	PodVRAMInitial        *float64       `json:"pod_vram_initial"`
	PodVRAMLimit          *float64       `json:"pod_vram_limit"`
	PUEConstant           float64        `json:"pue_constant"`
	RAM                   float64        `json:"ram"`
	TDPOfCPU              float64        `json:"tdp_of_cpu"`
	TDPOfGPU              float64        `json:"tdp_of_gpu"`
	VCPUCores             float64        `json:"v_cpu_cores"`
	VGPUCores             float64        `json:"v_gpu_cores"`
	VRAM                  float64        `json:"vram"`
	// CredentialRevoked is an extension (EXTENSIONS.md): the client's machine credential
	// was revoked. A backend without it does not send the field, which reads as false.
	CredentialRevoked bool `json:"credential_revoked"`
}

// EdgeDevicePage is one page of GET /edge-device/.
type EdgeDevicePage struct {
	Count    int          `json:"count"`
	Next     *string      `json:"next"`
	Previous *string      `json:"previous"`
	Results  []EdgeDevice `json:"results"`
}

// CreateRequest is the body of POST /edge-device/. Password is the machine credential the
// caller generated; it is never logged.
type CreateRequest struct {
	FirstName string `json:"first_name"`
	Namespace string `json:"namespace"`
	Location  string `json:"location,omitempty"`
	Password  string `json:"password"`
	ClusterID string `json:"cluster_id,omitempty"`
}

// PatchRequest is the body of PATCH /edge-device/<id>/: either the cluster_id backfill or
// the password reset extension.
type PatchRequest struct {
	ClusterID string `json:"cluster_id,omitempty"`
	Password  string `json:"password,omitempty"`
}

// RevokeResult is the answer of POST /edge-device/<id>/revoke/.
type RevokeResult struct {
	ClientID       int64  `json:"client_id"`
	Decommissioned bool   `json:"decommissioned"`
	Detail         string `json:"detail"`
	Status         string `json:"status"`
}

// Admin is one entry of GET /edge-device/admins/.
type Admin struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// ErrorBody is the JSON error shape of every non-2xx answer. Fields beyond "error" and
// "detail" are present only for the codes that carry them.
type ErrorBody struct {
	Error          string `json:"error,omitempty"`
	Detail         string `json:"detail,omitempty"`
	ClusterID      string `json:"cluster_id,omitempty"`
	OwnerEmail     string `json:"owner_email,omitempty"`
	HolderClientID int64  `json:"holder_client_id,omitempty"`
	HolderName     string `json:"holder_name,omitempty"`
	Namespace      string `json:"namespace,omitempty"`
	MinVersion     string `json:"min_version,omitempty"`
}

// Error codes of the "error" field.
const (
	CodeAuthorizationPending = "authorization_pending"
	CodeSlowDown             = "slow_down"
	CodeExpiredToken         = "expired_token"
	CodeAccessDenied         = "access_denied"
	CodeClusterConflict      = "cluster_conflict"
	CodeClusterInUse         = "cluster_in_use"
	CodeNamespaceConflict    = "namespace_conflict"
	CodeUpgradeRequired      = "upgrade_required"
)
