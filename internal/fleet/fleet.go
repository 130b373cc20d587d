// Package fleet provides the fleet benchmark: many enrollments at once against
// one development backend, a re-run of all of them after their Secrets were lost, and many
// bootstraps racing on one cluster id. It reports clients created, duplicates, errors and
// the time from approval to credential, and checks the invariants: no cluster id with two
// clients, no client minted by a re-run, one client for the raced cluster id.
//
// Each enrollment is the bootstrap's own code in a goroutine: the device grant
// (bootstrap/deviceflow with a real clock), then bootstrap/enroll.Enroller's Who and
// MintOrAdopt over a bootstrap/credential.Store. The Store talks to a fake clientset
// (k8s.io/client-go/kubernetes/fake), one per enrollment: the fleet measures the backend
// and the enrollment logic, not Kubernetes; the Secret's real-cluster behaviour (conflicts,
// crashes, the Lease) is covered by the bootstrap's tests on the local cluster.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
)

// SecretName is the credential Secret of every enrollment (each in its own fake cluster).
const SecretName = "edge-credentials"

// Config sizes a fleet run. The zero value is the benchmark of BENCHMARKS.md.
type Config struct {
	Enrollments    int           // enrollments at once, each its own cluster and account; default 500
	Racing         int           // bootstraps racing on one cluster id; default 50
	DeviceInterval time.Duration // the backend's poll interval; default 1s
	Timeout        time.Duration // the longest one enrollment may take; default 2m
}

func (c *Config) defaults() {
	if c.Enrollments <= 0 {
		c.Enrollments = 500
	}
	if c.Racing <= 0 {
		c.Racing = 50
	}
	if c.DeviceInterval <= 0 {
		c.DeviceInterval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
}

// Phase is what one wave of concurrent enrollments did.
type Phase struct {
	Name         string
	Runs         int
	Errors       int
	FirstError   string         // the first error, for the report
	Enrollment   map[string]int // credential.Minted, Reset, Adopted, ... of those that finished
	ClientsAdded int            // clients the backend holds after the wave minus before
	Verified     int            // final credentials that /api-token-auth/ accepts
	Latency      []time.Duration
	Wall         time.Duration
}

// Quantile is the nearest-rank q-quantile (0 < q <= 1) of the approval-to-credential times.
func (p Phase) Quantile(q float64) time.Duration {
	if len(p.Latency) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), p.Latency...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Report is a whole fleet run.
type Report struct {
	Config      Config
	Fleet       Phase // every enrollment once
	Rerun       Phase // the same cluster ids again, Secrets lost
	Race        Phase // one cluster id, many bootstraps
	Duplicates  int   // clients beyond the first for any cluster id, at the end
	RaceClients int   // clients holding the raced cluster id
}

// Check returns an error naming every invariant the run broke.
func (r *Report) Check() error {
	var errs []error
	if r.Duplicates != 0 {
		errs = append(errs, fmt.Errorf("%d clients share a cluster id with another client (want 0)", r.Duplicates))
	}
	if r.Fleet.Errors != 0 {
		errs = append(errs, fmt.Errorf("%d of %d enrollments failed (want 0), first: %s", r.Fleet.Errors, r.Fleet.Runs, r.Fleet.FirstError))
	}
	if r.Fleet.ClientsAdded != r.Fleet.Runs {
		errs = append(errs, fmt.Errorf("the fleet created %d clients for %d clusters (want one each)", r.Fleet.ClientsAdded, r.Fleet.Runs))
	}
	for _, p := range []Phase{r.Fleet, r.Rerun} {
		if refused := p.Runs - p.Errors - p.Verified; refused != 0 {
			errs = append(errs, fmt.Errorf("%s: the backend refuses %d of the credentials written (want 0)", p.Name, refused))
		}
	}
	if r.Rerun.ClientsAdded != 0 {
		errs = append(errs, fmt.Errorf("the re-run minted %d new clients (want 0)", r.Rerun.ClientsAdded))
	}
	if r.Rerun.Errors != 0 {
		errs = append(errs, fmt.Errorf("%d of %d re-runs failed (want 0), first: %s", r.Rerun.Errors, r.Rerun.Runs, r.Rerun.FirstError))
	}
	if r.RaceClients != 1 {
		errs = append(errs, fmt.Errorf("the raced cluster id has %d clients (want 1)", r.RaceClients))
	}
	if r.Race.Verified < 1 {
		errs = append(errs, errors.New("no racing bootstrap ended with a credential the backend accepts (want at least 1)"))
	}
	return errors.Join(errs...)
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\truns\terrors\tminted\treset\tadopted\tclients added\tverified\tp50 approval→credential\tp99\tmax\twall\t")
	for _, p := range []Phase{r.Fleet, r.Rerun, r.Race} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", p.Name, p.Runs, p.Errors,
			p.Enrollment[credential.Minted], p.Enrollment[credential.Reset], p.Enrollment[credential.Adopted],
			p.ClientsAdded, p.Verified, ms(p.Quantile(0.5)), ms(p.Quantile(0.99)), ms(p.Quantile(1)), ms(p.Wall))
	}
	tw.Flush()
	check := func(what string, got, want int) {
		verdict := "ok"
		if got != want {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%-48s %6d  (want %d)  %s\n", what, got, want, verdict)
	}
	check("duplicates (clients sharing a cluster id)", r.Duplicates, 0)
	check("errors in the fleet", r.Fleet.Errors, 0)
	check("credentials refused after the fleet", r.Fleet.Runs-r.Fleet.Errors-r.Fleet.Verified, 0)
	check("new clients minted by the re-run", r.Rerun.ClientsAdded, 0)
	check("credentials refused after the re-run", r.Rerun.Runs-r.Rerun.Errors-r.Rerun.Verified, 0)
	check("clients of the raced cluster id", r.RaceClients, 1)
	fmt.Fprintf(w, "%-48s %6d  (of %d; the last reset wins)\n", "racing credentials the backend accepts", r.Race.Verified, r.Race.Runs)
	for _, p := range []Phase{r.Fleet, r.Rerun, r.Race} {
		if p.FirstError != "" {
			fmt.Fprintf(w, "first error in %s: %s\n", p.Name, p.FirstError)
		}
	}
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// Run starts one development backend on 127.0.0.1 and runs the three waves.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	pl := newPlan(cfg)
	srv, err := devbackend.New(devbackend.Config{DeviceInterval: cfg.DeviceInterval, Users: pl.users, Logger: zerolog.Nop()})
	if err != nil {
		return nil, fmt.Errorf("start the development backend: %w", err)
	}
	defer srv.Close()
	url, stop, err := serve(srv)
	if err != nil {
		return nil, err
	}
	defer stop()

	conns := cfg.Enrollments + cfg.Racing
	httpClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
	defer httpClient.CloseIdleConnections()
	client, err := api.New(url, api.WithHTTPClient(httpClient))
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, srv: srv, client: client}
	rep := &Report{Config: cfg}
	if rep.Fleet, err = r.wave(ctx, "fleet", pl.fleet); err != nil {
		return nil, err
	}
	if rep.Rerun, err = r.wave(ctx, "re-run (Secrets lost)", pl.fleet); err != nil {
		return nil, err
	}
	if rep.Race, err = r.wave(ctx, "race (one cluster id)", pl.race); err != nil {
		return nil, err
	}
	if rep.Duplicates, rep.RaceClients, err = countClients(srv, pl.raceCluster); err != nil {
		return nil, err
	}
	return rep, nil
}

// plan is who enrolls what: one account and cluster id per fleet enrollment, and one
// account whose racing enrollments share raceCluster.
type plan struct {
	users       []devbackend.User
	fleet, race []target
	raceCluster string
}

func newPlan(cfg Config) plan {
	pl := plan{users: make([]devbackend.User, 0, cfg.Enrollments+1), fleet: make([]target, cfg.Enrollments),
		race: make([]target, cfg.Racing), raceCluster: uuid.NewString()}
	for i := range pl.fleet {
		u := devbackend.User{Email: fmt.Sprintf("fleet-%04d@fleet.example", i), Account: fmt.Sprintf("fleet-%04d", i), FirstName: "Fleet", Admin: true}
		pl.users = append(pl.users, u)
		pl.fleet[i] = target{email: u.Email, clusterID: uuid.NewString(), namespace: fmt.Sprintf("edge-%04d", i)}
	}
	racer := devbackend.User{Email: "race@fleet.example", Account: "race", FirstName: "Race", Admin: true}
	pl.users = append(pl.users, racer)
	for i := range pl.race {
		pl.race[i] = target{email: racer.Email, clusterID: pl.raceCluster, namespace: "edge"}
	}
	return pl
}

// serve serves the backend on a loopback port and returns its URL and how to stop it.
func serve(srv *devbackend.Server) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second}
	go hs.Serve(ln) //nolint:errcheck // ends with Close in stop
	return "http://" + ln.Addr().String(), func() { hs.Close() }, nil
}

// countClients returns how many clients share a cluster id with another (each beyond the
// first counts), and how many hold raceCluster.
func countClients(srv *devbackend.Server, raceCluster string) (duplicates, race int, err error) {
	clients, err := srv.Clients()
	if err != nil {
		return 0, 0, err
	}
	seen := map[string]int{}
	for _, c := range clients {
		if c.ClusterID != nil {
			seen[*c.ClusterID]++
		}
	}
	for _, n := range seen {
		duplicates += n - 1
	}
	return duplicates, seen[raceCluster], nil
}

// target is one bootstrap: who approves its code, and its cluster.
type target struct{ email, clusterID, namespace string }

// result is how one enrollment ended.
type result struct {
	enrollment string
	latency    time.Duration
	clientID   string
	password   string
	err        error
}

type runner struct {
	cfg    Config
	srv    *devbackend.Server
	client *api.Client
}

// wave starts every target at once, each with a fresh fake cluster (an empty Secret), and
// waits for all of them.
func (r *runner) wave(ctx context.Context, name string, targets []target) (Phase, error) {
	p := Phase{Name: name, Runs: len(targets), Enrollment: map[string]int{}}
	before, err := r.srv.Clients()
	if err != nil {
		return p, err
	}
	results := make([]result, len(targets))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, tg := range targets {
		kube := fake.NewClientset()
		wg.Go(func() {
			<-start
			results[i] = r.enroll(ctx, tg, kube)
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	p.Wall = time.Since(began)
	after, err := r.srv.Clients()
	if err != nil {
		return p, err
	}
	p.ClientsAdded = len(after) - len(before)
	for _, res := range results {
		if res.err != nil {
			if p.Errors == 0 {
				p.FirstError = res.err.Error()
			}
			p.Errors++
			continue
		}
		p.Enrollment[res.enrollment]++
		p.Latency = append(p.Latency, res.latency)
		if r.client.VerifyCredential(ctx, res.clientID, res.password) == nil {
			p.Verified++
		}
	}
	return p, nil
}

// enroll is one bootstrap: the device grant, approved as soon as the code is shown, then
// the enrollment; the clock runs from the approval to the Secret holding the credential.
func (r *runner) enroll(ctx context.Context, tg target, kube kubernetes.Interface) result {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var (
		approvedAt time.Time
		approveErr error
	)
	flow := &deviceflow.Flow{Backend: r.client, Clock: clock.RealClock{}, Log: zerolog.Nop(),
		Show: func(_ context.Context, p deviceflow.Pending) {
			approveErr = r.srv.Approve(p.Code.UserCode, tg.email)
			approvedAt = time.Now()
		}}
	token, err := flow.Run(ctx)
	if approveErr != nil {
		return result{err: fmt.Errorf("approve the code: %w", approveErr)}
	}
	if err != nil {
		return result{err: fmt.Errorf("device grant: %w", err)}
	}
	user := r.client.WithToken(token)
	defer user.RevokeToken(context.WithoutCancel(ctx)) //nolint:errcheck // the sign-in token ends with the run
	store := &credential.Store{Client: kube, Namespace: tg.namespace, Name: SecretName}
	prior, err := store.Read(ctx)
	if err != nil {
		return result{err: err}
	}
	e := &enroll.Enroller{Backend: user, Store: store, ClusterID: tg.clusterID, Namespace: tg.namespace,
		ResetWindow: 10 * time.Minute, Clock: clock.RealClock{}, Log: zerolog.Nop()}
	acct, err := e.Who(ctx)
	if err != nil {
		return result{err: fmt.Errorf("enroll: %w", err)}
	}
	res, err := e.MintOrAdopt(ctx, acct, prior)
	if err != nil {
		return result{err: fmt.Errorf("enroll: %w", err)}
	}
	got, err := store.Read(ctx)
	if err != nil {
		return result{err: err}
	}
	latency := time.Since(approvedAt)
	if !got.Complete() {
		return result{err: fmt.Errorf("the Secret is not complete after a %s enrollment (enrollment %q)", res.Enrollment, got.Enrollment)}
	}
	return result{enrollment: res.Enrollment, latency: latency, clientID: got.ClientID, password: got.Password}
}

// Summary is a one-line form of the report, for logs.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fleet %d: %d clients, %d errors, p50 %s p99 %s; re-run: %d new clients; race %d: %d client(s)",
		r.Fleet.Runs, r.Fleet.ClientsAdded, r.Fleet.Errors, ms(r.Fleet.Quantile(0.5)), ms(r.Fleet.Quantile(0.99)),
		r.Rerun.ClientsAdded, r.Race.Runs, r.RaceClients)
	return b.String()
}
