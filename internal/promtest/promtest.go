// Package promtest runs a real Prometheus for a test, scraping small HTTP apps (see NewApp) whose
// error rate and latency the test controls, so that metric queries are tested against the real
// query engine rather than a fake of it.
package promtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gennaker/gennaker/internal/childproc"
	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/internal/procout"
)

// ScrapeInterval is how often Prometheus scrapes every target and evaluates; short, so that a test
// has enough points after seconds rather than minutes.
const ScrapeInterval = time.Second

// Job is the job label of every target, so that queries can tell them from Prometheus' own series.
const Job = "promtest"

// startAttempts bounds the retries when another process takes the chosen port first.
const startAttempts = 5

// stopGrace is how long Prometheus gets to close its TSDB after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

// Target is one endpoint Prometheus scrapes at /metrics, with labels the test chooses to tell the
// targets apart in queries (e.g. app="web", track="canary").
type Target struct {
	Addr   string
	Labels map[string]string
}

// Prometheus is one Prometheus process serving on a loopback port, stopped when the test ends.
type Prometheus struct {
	url         string
	targetsPath string
	client      *http.Client

	mu      sync.Mutex
	targets []Target
}

// StartPrometheus starts Prometheus scraping targets every ScrapeInterval and returns once its API
// is ready. Targets can be added later with AddTargets. Prometheus only starts scraping a target
// up to ~10 s after it learns of it (its discovery and scrape managers each batch changes every
// 5 s); use WaitForScrapes or WaitForSamples before querying. Under -short, or where Prometheus is
// not installed, the test is skipped; in CI (CI=true) a missing Prometheus is a failure.
func StartPrometheus(t testing.TB, targets ...Target) *Prometheus {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Prometheus; skipped with -short")
	}
	bin := binary(t)
	dir := t.TempDir()
	p := &Prometheus{
		targetsPath: filepath.Join(dir, "targets.json"),
		client:      &http.Client{Timeout: 5 * time.Second},
		targets:     append([]Target(nil), targets...),
	}
	if err := p.writeTargets(); err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config(p.targetsPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		out, err := p.start(t, bin, configPath, filepath.Join(dir, "data"))
		if err == nil {
			return p
		}
		// The port is reserved until Prometheus serves, but a process binding it by its number
		// can still take it first.
		if errors.Is(err, errPortTaken) && attempt < startAttempts {
			continue
		}
		t.Fatalf("promtest: %v\nPrometheus output:\n%s", err, out)
	}
}

// URL is Prometheus' base URL, e.g. http://127.0.0.1:41234, for a metric source's config.
func (p *Prometheus) URL() string { return p.url }

// AddTargets has Prometheus scrape more targets, e.g. apps a test deploys after the start; they are
// picked up within ~10 s.
func (p *Prometheus) AddTargets(t testing.TB, targets ...Target) {
	t.Helper()
	p.mu.Lock()
	p.targets = append(p.targets, targets...)
	p.mu.Unlock()
	if err := p.writeTargets(); err != nil {
		t.Fatal(err)
	}
}

// WaitForScrapes waits until every target has been scraped successfully at least n times.
func (p *Prometheus) WaitForScrapes(t testing.TB, n int) {
	t.Helper()
	p.mu.Lock()
	want := len(p.targets)
	p.mu.Unlock()
	// up is 1 for every successful scrape, so its sum over time counts them per target.
	query := fmt.Sprintf(`count(sum_over_time(up{job=%q}[1h]) >= %d)`, Job, n)
	p.waitFor(t, n, query, func(values []float64) bool {
		return len(values) == 1 && int(values[0]) >= want
	}, fmt.Sprintf("all %d targets scraped %d times", want, n))
}

// WaitForSamples waits until selector, a series selector such as
// http_requests_total{app="web"}, matches at least one series and each matched series holds at
// least n samples.
func (p *Prometheus) WaitForSamples(t testing.TB, selector string, n int) {
	t.Helper()
	query := fmt.Sprintf("count_over_time(%s[1h])", selector)
	p.waitFor(t, n, query, func(values []float64) bool {
		if len(values) == 0 {
			return false
		}
		for _, v := range values {
			if v < float64(n) {
				return false
			}
		}
		return true
	}, fmt.Sprintf("%d samples of every series of %s", n, selector))
}

// waitFor polls an instant query until done accepts its values; the time allowed covers target
// discovery plus n scrapes.
func (p *Prometheus) waitFor(t testing.TB, n int, query string, done func([]float64) bool, what string) {
	t.Helper()
	timeout := 30*time.Second + time.Duration(n)*ScrapeInterval
	deadline := time.Now().Add(timeout)
	var last string
	for {
		values, err := p.instant(query)
		if err == nil && done(values) {
			return
		}
		if err != nil {
			last = err.Error()
			if strings.Contains(last, "bad_data") {
				t.Fatalf("promtest: waiting for %s: %v", what, err)
			}
		} else {
			last = fmt.Sprint(values)
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: no %s within %s (query %s, last answer %s)", what, timeout, query, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// instant runs an instant query and returns the value of each series it answers.
func (p *Prometheus) instant(query string) ([]float64, error) {
	resp, err := p.client.PostForm(p.url+"/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			Result []struct {
				Value [2]json.Number `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	values := make([]float64, 0, len(r.Data.Result))
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(string(s.Value[1]), 64)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	return values, nil
}

// errPortTaken says Prometheus could not bind its port, which a retry on another port fixes.
var errPortTaken = errors.New("the listen port was taken")

// start runs Prometheus once on a fresh port and waits until /-/ready answers 200. The process is
// stopped when the test ends; its output is logged if the test failed.
func (p *Prometheus) start(t testing.TB, bin, configPath, dataDir string) (string, error) {
	t.Helper()
	// Prometheus can listen on port 0, but only some versions log the port they got, so it is
	// told one, reserved until it serves so that no other process is handed the port meanwhile.
	port, err := freeport.Reserve()
	if err != nil {
		return "", err
	}
	defer port.Release()
	addr := port.Addr()
	out := &procout.Buffer{}
	cmd := exec.Command(bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+dataDir,
		"--web.listen-address="+addr,
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childproc.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = cmd.Process.Kill()
		}
		select {
		case <-exited:
		case <-time.After(stopGrace):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			if strings.Contains(out.String(), "address already in use") {
				return out.String(), errPortTaken
			}
			return out.String(), fmt.Errorf("Prometheus exited before it was ready: %v", cmd.ProcessState)
		default:
		}
		resp, err := p.client.Get(base + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return out.String(), fmt.Errorf("Prometheus was not ready on %s within 30s (last: %v)", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.url = base
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("Prometheus output:\n%s", out.String())
		}
	})
	return out.String(), nil
}

// config is Prometheus' configuration: one job whose targets come from a file Prometheus watches,
// so that targets can change while it runs. scrape_timeout must not exceed scrape_interval, and its
// default (10s) does, so it is set too.
func config(targetsPath string) string {
	interval := ScrapeInterval.String()
	return fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: %[2]s
    file_sd_configs:
      - files: [%[3]q]
        refresh_interval: %[1]s
`, interval, Job, targetsPath)
}

// writeTargets writes the targets in file_sd form, replacing the file at once so that Prometheus
// never reads half of it.
func (p *Prometheus) writeTargets() error {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels,omitempty"`
	}
	p.mu.Lock()
	groups := make([]group, 0, len(p.targets))
	for _, tg := range p.targets {
		groups = append(groups, group{Targets: []string{tg.Addr}, Labels: tg.Labels})
	}
	p.mu.Unlock()
	data, err := json.Marshal(groups)
	if err != nil {
		return fmt.Errorf("promtest: targets: %w", err)
	}
	tmp := p.targetsPath + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("promtest: targets: %w", err)
	}
	if err := os.Rename(tmp, p.targetsPath); err != nil {
		return fmt.Errorf("promtest: targets: %w", err)
	}
	return nil
}

// binary finds Prometheus; without it the test is skipped, except in CI, which installs it.
func binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("prometheus is not installed (CI installs it with apt-get install prometheus): %v", err)
	}
	t.Skip("prometheus is not installed; to run this test: sudo apt-get install prometheus")
	return ""
}
