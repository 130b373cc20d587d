package enroll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/retry"
	"github.com/tracebloc/edge/internal/safetext"
)

// A rebuilt cluster keeps its namespace's name and gets a new kube-system UID, so its
// enrollment finds the namespace held by the client of the cluster it replaces: anchored to
// the old cluster id, and offline. Only a person can tell that the old cluster is gone for
// good, so the run says so, names the client, and waits for it to be revoked or deleted,
// then goes on with the same sign-in. A revoked client is told by its credential_revoked
// field (an extension); a backend that does not send it gets the wait for the deletion.

// Defaults of Enroller.FormerPoll and FormerWait. The wait stays within the life of a
// user token (an hour is usual), since the create that follows needs it.
const (
	DefaultFormerPoll = 15 * time.Second
	DefaultFormerWait = 50 * time.Minute
)

// heldByFormer says that the namespace is held by holder, the former client of this
// cluster (see formerClient); clients is the list it was found in.
type heldByFormer struct {
	holder  api.EdgeDevice
	clients []api.EdgeDevice
}

func (h *heldByFormer) Error() string {
	return fmt.Sprintf("namespace %s is held by client %q of another cluster", clean(h.holder.Namespace), clean(h.holder.FirstName))
}

// errStillHeld is a poll of the wait that found the former client still there.
var errStillHeld = errors.New("the former client still holds the namespace")

// formerClient reports whether holder, the client that holds this namespace, is that of a
// cluster this one replaces: anchored to another cluster and not live. A live holder, or
// one without a cluster id (an install from before cluster ids), is another install.
func (e *Enroller) formerClient(holder *api.EdgeDevice) bool {
	live, _ := e.live(holder)
	return holder.ClusterID != nil && *holder.ClusterID != e.ClusterID && !live
}

// awaitFormer tells the person what holds the namespace and how to free it, then reads the
// client list every FormerPoll until holder is gone (revoked, deleted, decommissioned, or
// moved out of the namespace) and returns that list. It stops when holder comes back to life, when
// the sign-in ends, and after FormerWait.
func (e *Enroller) awaitFormer(ctx context.Context, held *heldByFormer) ([]api.EdgeDevice, error) {
	e.hook("await-former")
	holder := held.holder
	msg := e.formerMessage(holder, held.clients)
	if e.Notice != nil {
		e.Notice(ctx, msg)
	}
	e.Log.Warn().Str("step", "enroll").Str("client", clean(holder.FirstName)).Int64("client_id", holder.ID).Msg(msg)
	clients := held.clients
	poll := e.FormerPoll
	if poll <= 0 {
		poll = DefaultFormerPoll
	}
	policy := retry.Policy{Backoff: retry.Backoff{Base: poll, Cap: poll}, Budget: e.formerWait(), After: api.RetryAfter}
	looked := false
	err := retry.Do(ctx, e.clock(), policy, func() error {
		if !looked { // the list that found holder is the first look: the wait comes first
			looked = true
			return e.stillHeld(clients, holder)
		}
		list, err := e.Backend.ListEdgeDevices(ctx)
		if err != nil {
			return err
		}
		clients = list
		return e.stillHeld(list, holder)
	}, formerTransient, nil)
	if err != nil {
		return nil, e.formerError(ctx, holder, clients, err)
	}
	e.Log.Info().Str("step", "enroll").Str("client", clean(holder.FirstName)).
		Msg("the former client no longer holds the namespace; creating this cluster's client")
	return clients, nil
}

// formerTransient: the wait goes on while holder is there, and through what is worth
// trying again (api.Transient, which counts an unknown error as a lost answer, so a stop
// is checked first).
func formerTransient(err error) bool {
	var st *Error
	if errors.As(err, &st) {
		return false
	}
	return errors.Is(err, errStillHeld) || api.Transient(err)
}

// stillHeld is one look at the list: nil once holder no longer holds the namespace,
// errStillHeld while it does offline, and a stop when it is live again. A revoked holder
// no longer holds it (see releasedBy); a backend that does not send credential_revoked
// shows none revoked, so there the wait lasts until the deletion.
func (e *Enroller) stillHeld(clients []api.EdgeDevice, holder api.EdgeDevice) error {
	for i := range clients {
		c := &clients[i]
		if c.ID != holder.ID || c.IsDecommissioned || c.Namespace != e.Namespace || releasedBy(c) {
			continue
		}
		if live, why := e.live(c); live {
			return stop(Conflict, nil,
				"client %q, which holds namespace %s and is anchored to cluster %s, is live again (%s): that cluster still runs, so this one does not take its place; install here into a free namespace (helm install ... -n %s), or stop that cluster's edge and delete client %q",
				clean(c.FirstName), e.Namespace, formerCluster(c), why, FreeNamespace(e.Namespace, clients), clean(c.FirstName))
		}
		return errStillHeld
	}
	return nil
}

// releasedBy reports whether c, a client of another cluster, has given its namespace up by
// being revoked: the backend then lets another cluster's client be created there. One
// without a cluster id (an install from before cluster ids) keeps it.
func releasedBy(c *api.EdgeDevice) bool {
	return c.CredentialRevoked && c.ClusterID != nil
}

// formerError turns the end of an unsuccessful wait into the stop it is.
func (e *Enroller) formerError(ctx context.Context, holder api.EdgeDevice, clients []api.EdgeDevice, err error) error {
	var exhausted *retry.ExhaustedError
	name := clean(holder.FirstName)
	switch {
	case errors.As(err, &exhausted) && errors.Is(err, errStillHeld):
		return stop(Conflict, nil,
			"waited %s for client %q (anchored to cluster %s) to be revoked or deleted; it still holds namespace %s: revoke or delete it in the tracebloc dashboard (or tracebloc client delete %s) and restart the pod (kubectl rollout restart), or install here into a free namespace (helm install ... -n %s)",
			e.formerWait(), name, formerCluster(&holder), e.Namespace, name, FreeNamespace(e.Namespace, clients))
	case errors.Is(err, api.ErrUnauthorized):
		return stop(Failure, err,
			"the sign-in ended while waiting for client %q to be revoked or deleted: revoke or delete it in the tracebloc dashboard; the pod restarts, shows a new code, and goes on once it is approved", name)
	case ctx.Err() != nil:
		return fmt.Errorf("stopped while waiting for client %q to be revoked or deleted: %w", name, context.Cause(ctx))
	}
	var st *Error
	if errors.As(err, &st) {
		return err
	}
	return e.backendError("list the account's clients while waiting for client "+name+" to be revoked or deleted", err)
}

// formerMessage says what holds the namespace, where it was anchored, when it was last
// heard of, and the way out. Everything the backend sent is cleaned and bounded.
func (e *Enroller) formerMessage(h api.EdgeDevice, clients []api.EdgeDevice) string {
	name := clean(h.FirstName)
	heartbeat := "no heartbeat ever"
	if h.LastInfoUpdate != nil {
		heartbeat = "last heartbeat " + h.LastInfoUpdate.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("this cluster (%s) looks rebuilt: namespace %s is held by client %q (id %d) of your account, anchored to cluster %s, which is not live (%s). "+
		"If that cluster is gone, revoke or delete client %q in the tracebloc dashboard (or tracebloc client delete %s): this pod then goes on by itself and creates this cluster's client, without a new approval. "+
		"If that cluster still runs, install here into a free namespace instead (helm install ... -n %s). Waiting up to %s",
		e.ClusterID, e.Namespace, name, h.ID, formerCluster(&h), heartbeat, name, name, FreeNamespace(e.Namespace, clients), e.formerWait())
}

// formerCluster is the cluster id a client is anchored to, cleaned and bounded.
func formerCluster(c *api.EdgeDevice) string {
	if c.ClusterID == nil {
		return "none"
	}
	return safetext.Excerpt(*c.ClusterID, 80)
}

func (e *Enroller) formerWait() time.Duration {
	if e.FormerWait <= 0 {
		return DefaultFormerWait
	}
	return e.FormerWait
}
