package localkube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
)

// podLogsDir, under DataDir, holds the files kwok serves as pod logs.
const podLogsDir = "pod-logs"

// podLogsTimeout bounds SetPodLogs' wait for kwok to serve a new selection, which its watch of
// ClusterLogs resources delivers within a moment.
const podLogsTimeout = 30 * time.Second

// PodLogs says what the containers of some pods print.
type PodLogs struct {
	// Namespace holds the pods; required.
	Namespace string
	// Pods names the pods; empty selects every pod of Namespace, those created later too, which is
	// how a Job's pods, named only when the Job controller creates them, get their log.
	Pods []string
	// Containers names the containers; empty selects every container of the pods.
	Containers []string
	// Text is what each selected container prints, lines separated by "\n".
	Text string
}

// SetPodLogs makes the log of the selected containers read Text, through the API server's pod log
// endpoint (kubectl logs, client-go's GetLogs) as from a kubelet. It writes Text to a file under
// DataDir, creates a kwok ClusterLogs resource that points the selection at it, and returns once
// kwok serves it. Setting the same selection again replaces its text. Selections must not overlap:
// where two select the same container, which one kwok serves is not defined. Selections last as
// long as the cluster's data, across restarts.
func (c *Cluster) SetPodLogs(ctx context.Context, logs PodLogs) error {
	if errs := validation.IsDNS1123Label(logs.Namespace); len(errs) > 0 {
		return fmt.Errorf("localkube: set pod logs: namespace %q: %s", logs.Namespace, strings.Join(errs, "; "))
	}
	pods, containers := sortedCopy(logs.Pods), sortedCopy(logs.Containers)
	name := podLogsName(logs.Namespace, pods, containers)
	dir := filepath.Join(c.opts.DataDir, podLogsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("localkube: set pod logs: %w", err)
	}
	path := filepath.Join(dir, name+".log")
	if err := writeCRILog(path, logs.Text, time.Now()); err != nil {
		return fmt.Errorf("localkube: set pod logs of %s: %w", describeSelection(logs.Namespace, pods, containers), err)
	}

	selector := map[string]any{"matchNamespaces": []any{logs.Namespace}}
	if len(pods) > 0 {
		selector["matchNames"] = anySlice(pods)
	}
	entry := map[string]any{"logsFile": path}
	if len(containers) > 0 {
		entry["containers"] = anySlice(containers)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": clusterLogsGVR.GroupVersion().String(),
		"kind":       "ClusterLogs",
		"metadata":   map[string]any{"name": name},
		"spec":       map[string]any{"selector": selector, "logs": []any{entry}},
	}}
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("localkube: set pod logs: %w", err)
	}
	if err := apply(ctx, dyn.Resource(clusterLogsGVR), obj); err != nil {
		return err
	}
	return c.waitLogsServed(ctx, logs.Namespace, pods, containers, criContent(logs.Text))
}

// waitLogsServed asks kwok's server directly, as the API server would, until it answers with the
// selection's text. Any pod name matches a selection by namespace alone, existing or not.
func (c *Cluster) waitLogsServed(ctx context.Context, namespace string, pods, containers []string, want string) error {
	pod, container := "any-pod", "any-container"
	if len(pods) > 0 {
		pod = pods[0]
	}
	if len(containers) > 0 {
		container = containers[0]
	}
	u := fmt.Sprintf("http://%s/containerLogs/%s/%s/%s", hostPort(c.kwokPort), url.PathEscape(namespace), url.PathEscape(pod), url.PathEscape(container))
	ctx, cancel := context.WithTimeout(ctx, podLogsTimeout)
	defer cancel()
	var last string
	for {
		got, err := get(ctx, u)
		switch {
		case err != nil:
			last = err.Error()
		case got == want:
			return nil
		default:
			last = fmt.Sprintf("it serves %q", truncate(got, 200))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localkube: kwok does not serve the logs set for %s (does another selection overlap it?): %w; last: %s",
				describeSelection(namespace, pods, containers), ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, truncate(strings.TrimSpace(string(body)), 200))
	}
	return string(body), nil
}

// writeCRILog writes text in the container runtime's log format, which kwok parses as a kubelet
// does: one "time stream tag content" line per line of text, each complete (tag F). It is
// written aside and renamed, so kwok never serves half a file.
func writeCRILog(path, text string, now time.Time) error {
	var b strings.Builder
	stamp := now.UTC().Format(time.RFC3339Nano)
	for _, line := range lines(text) {
		b.WriteString(stamp)
		b.WriteString(" stdout F ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// criContent is what a log written by writeCRILog reads as: every line ends in a newline.
func criContent(text string) string {
	var b strings.Builder
	for _, line := range lines(text) {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func lines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// podLogsName names a selection's ClusterLogs and file after what it selects, so setting the
// same selection again replaces it.
func podLogsName(namespace string, pods, containers []string) string {
	sum := sha256.Sum256([]byte(namespace + "\x00" + strings.Join(pods, ",") + "\x00" + strings.Join(containers, ",")))
	return "gennaker-" + hex.EncodeToString(sum[:8])
}

func describeSelection(namespace string, pods, containers []string) string {
	what := "every pod"
	if len(pods) > 0 {
		what = "pods " + strings.Join(pods, ", ")
	}
	if len(containers) > 0 {
		what = "containers " + strings.Join(containers, ", ") + " of " + what
	}
	return what + " in " + namespace
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
