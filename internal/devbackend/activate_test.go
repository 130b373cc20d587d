package devbackend

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
)

// browserForm is a plain HTTP client with cookies: what a browser without JavaScript does.
type browserForm struct {
	t  testing.TB
	e  *env
	hc *http.Client
}

func newBrowserForm(e *env) *browserForm {
	jar, _ := cookiejar.New(nil)
	return &browserForm{t: e.t, e: e, hc: &http.Client{Jar: jar}}
}

func (b *browserForm) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.e.ts.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browserForm) post(form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.hc.PostForm(b.e.ts.URL+"/activate", form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return m[1]
}

func TestActivatePage(t *testing.T) {
	e := newEnv(t)
	approveMe, denyMe, expireMe := e.deviceCode(), e.deviceCode(), e.deviceCode()
	b := newBrowserForm(e)

	status, page := b.get("/activate?code=" + url.QueryEscape(strings.ToLower(approveMe.UserCode)))
	for _, want := range []string{`value="` + approveMe.UserCode + `"`, adminA, admin2A, "account bravo", "(viewer)", "What you authorize", "Approve", "Deny"} {
		if !strings.Contains(page, want) {
			t.Errorf("GET /activate?code=… does not show %q", want)
		}
	}
	if status != 200 || strings.Contains(page, `id="problem"`) {
		t.Errorf("GET /activate with a valid code = %d, with a problem shown", status)
	}
	csrf := csrfOf(t, page)

	problems := []struct {
		name, path, want string
	}{
		{name: "unknown", path: "/activate?code=BBBB-CCCC", want: "not valid"},
		{name: "no code", path: "/activate", want: ""},
	}
	for _, p := range problems {
		t.Run("GET "+p.name, func(t *testing.T) {
			status, page := b.get(p.path)
			if status != 200 || (p.want != "") != strings.Contains(page, `id="problem"`) || !strings.Contains(page, p.want) {
				t.Errorf("GET %s = %d, want a page that says %q", p.path, status, p.want)
			}
		})
	}

	posts := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{name: "no csrf", form: url.Values{"code": {approveMe.UserCode}, "email": {admin2A}, "action": {"approve"}}, status: 403, want: "The form expired"},
		{name: "wrong csrf", form: url.Values{"csrf": {"x" + csrf}, "code": {approveMe.UserCode}, "email": {admin2A}, "action": {"approve"}}, status: 403, want: "The form expired"},
		{name: "unknown code", form: url.Values{"csrf": {csrf}, "code": {"BBBB-CCCC"}, "email": {admin2A}, "action": {"approve"}}, status: 404, want: "not valid"},
		{name: "unknown user", form: url.Values{"csrf": {csrf}, "code": {approveMe.UserCode}, "email": {"x@y.example"}, "action": {"approve"}}, status: 400, want: "Choose one of the development users"},
		{name: "no action", form: url.Values{"csrf": {csrf}, "code": {approveMe.UserCode}, "email": {admin2A}}, status: 400, want: "Approve or Deny"},
		{name: "approve", form: url.Values{"csrf": {csrf}, "code": {approveMe.UserCode}, "email": {admin2A}, "action": {"approve"}}, status: 200, want: "Approved — you can close this window"},
		{name: "approve again", form: url.Values{"csrf": {csrf}, "code": {approveMe.UserCode}, "email": {admin2A}, "action": {"approve"}}, status: 400, want: "already approved or denied"},
		{name: "deny", form: url.Values{"csrf": {csrf}, "code": {denyMe.UserCode}, "email": {adminA}, "action": {"deny"}}, status: 200, want: "Denied"},
	}
	for _, p := range posts {
		t.Run("POST "+p.name, func(t *testing.T) {
			status, page := b.post(p.form)
			if status != p.status || !strings.Contains(page, p.want) {
				t.Errorf("POST /activate = %d, want %d and a page that says %q:\n%s", status, p.status, p.want, page)
			}
		})
	}

	var tok api.Token
	e.clock.Add(5 * time.Second)
	e.poll(approveMe.DeviceCode).decode(t, &tok)
	var ui api.UserInfo
	e.do("GET", "/userinfo/", tok.Token, nil).decode(t, &ui)
	if ui.Email != admin2A {
		t.Errorf("the approved code's token belongs to %q, want %q", ui.Email, admin2A)
	}
	if got := e.poll(denyMe.DeviceCode).errBody(t).Error; got != api.CodeAccessDenied {
		t.Errorf("poll of the denied code = %q, want access_denied", got)
	}

	e.clock.Add(15 * time.Minute)
	if _, page := b.get("/activate?code=" + expireMe.UserCode); !strings.Contains(page, "expired") {
		t.Error("GET /activate with an expired code does not say it expired")
	}
	if status, page := b.post(url.Values{"csrf": {csrf}, "code": {expireMe.UserCode}, "email": {adminA}, "action": {"approve"}}); status != 400 || !strings.Contains(page, "expired") {
		t.Errorf("POST /activate with an expired code = %d, want 400 saying it expired", status)
	}
}

// TestActivatePageInBrowser approves a code in real headless Chromium: open
// verification_uri_complete, check what the page shows about the request (its context,
// source address and age, with the warning of an old code), pick a user, click Approve;
// then the poll gets the token.
func TestActivatePageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/chromium"); statErr != nil {
			t.Fatal("Chromium is missing: apt-get install chromium (or run go test -short)")
		}
		chromium = "/usr/bin/chromium"
	}
	e := newEnv(t)
	want := fullContext()
	want.ClientName = `edge <lab> & "7"` // shown as text, not markup
	requested := e.requestCode(want, "")
	if requested.status != http.StatusOK {
		t.Fatalf("POST /device/code with a context = %d %s", requested.status, requested.body)
	}
	var dc api.DeviceCode
	requested.decode(t, &dc)
	e.clock.Add(6 * time.Minute)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start Chromium: %v", err)
	}
	stepCtx, stepCancel := context.WithTimeout(ctx, 60*time.Second)
	defer stepCancel()

	err = chromedp.Do(stepCtx,
		chromedp.Navigate(dc.VerificationURIComplete),
		chromedp.WaitVisible(chromedp.ID("approve")),
	)
	if err != nil {
		t.Fatalf("open the activation page: %v", err)
	}
	shown := map[string]string{}
	for _, id := range []string{"req-cluster_id", "req-namespace", "req-client_name", "req-kubernetes_version",
		"req-chart_version", "req-source", "req-age", "req-stale"} {
		text, err := chromedp.Run(stepCtx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("read #%s: %v", id, err)
		}
		shown[id] = strings.Join(strings.Fields(text), " ")
	}
	wantShown := map[string]string{
		"req-cluster_id": want.ClusterID, "req-namespace": want.Namespace, "req-client_name": want.ClientName,
		"req-kubernetes_version": want.KubernetesVersion, "req-chart_version": want.ChartVersion,
		"req-source": "127.0.0.1", "req-age": "6 minutes ago",
		"req-stale": shown["req-stale"], // checked below
	}
	if diff := cmp.Diff(wantShown, shown); diff != "" {
		t.Errorf("the page shows (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(shown["req-stale"], "This code was requested 6 minutes ago.") {
		t.Errorf("the warning of an old code says %q, want it to give the age", shown["req-stale"])
	}

	err = chromedp.Do(stepCtx,
		chromedp.SetValue(chromedp.ID("email"), admin2A),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	if err != nil {
		t.Fatalf("drive the activation page: %v", err)
	}
	result, err := chromedp.Run(stepCtx, chromedp.Text(chromedp.ID("result")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Approved — you can close this window"; strings.TrimSpace(result) != want {
		t.Errorf("result page says %q, want %q", result, want)
	}
	if path := os.Getenv("DEVBACKEND_SCREENSHOT"); path != "" {
		if png, err := chromedp.Run(stepCtx, chromedp.FullScreenshot(90)); err == nil {
			_ = os.WriteFile(path, png, 0o644)
		}
	}

	a := e.poll(dc.DeviceCode)
	if a.status != 200 {
		t.Fatalf("poll after approving in the browser = %d %s, want 200", a.status, a.body)
	}
	var tok api.Token
	a.decode(t, &tok)
	var ui api.UserInfo
	e.do("GET", "/userinfo/", tok.Token, nil).decode(t, &ui)
	if ui.Email != admin2A {
		t.Errorf("token belongs to %q, want the user picked in the browser, %q", ui.Email, admin2A)
	}
}
