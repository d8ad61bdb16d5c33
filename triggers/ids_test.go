package triggers

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

func TestDeliveryIDPrecedence(t *testing.T) {
	all := []string{
		"X-GitHub-Delivery", "gh",
		"X-Gitlab-Event-UUID", "gl",
		"X-Request-UUID", "bb",
		"X-Gennaker-Delivery", "gk",
		"X-Request-Id", "proxy",
	}
	// Dropping the winning header each time shows the next one wins.
	for i := 0; i < len(all); i += 2 {
		d := Delivery{Header: headers(all[i:]...), Body: []byte(`{}`)}
		if got, want := DeliveryID(d), all[i+1]; got != want {
			t.Errorf("with headers from %s: got %q, want %q", all[i], got, want)
		}
	}
	// Header names are matched as HTTP does, whatever their case on the wire.
	d := Delivery{Header: headers("x-github-delivery", "gh"), Body: []byte(`{}`)}
	if got := DeliveryID(d); got != "gh" {
		t.Errorf("lower-case header: %q", got)
	}
	// An empty header is absent.
	d = Delivery{Header: headers("X-GitHub-Delivery", " ", "X-Request-Id", "proxy")}
	if got := DeliveryID(d); got != "proxy" {
		t.Errorf("blank header: %q", got)
	}
}

func TestDeliveryIDBodyHash(t *testing.T) {
	body := []byte(`{"version":"1.2.3"}`)
	sum := sha256.Sum256(body)
	want := "sha256:" + hex.EncodeToString(sum[:])
	a := DeliveryID(Delivery{Body: body})
	b := DeliveryID(Delivery{Header: headers("Content-Type", "application/json"), Body: append([]byte(nil), body...)})
	if a != want || b != want {
		t.Errorf("got %q and %q, want %q", a, b, want)
	}
	if c := DeliveryID(Delivery{Body: []byte(`{"version":"1.2.4"}`)}); c == a {
		t.Error("different bodies gave the same delivery")
	}

	long := strings.Repeat("x", 500)
	got := DeliveryID(Delivery{Header: headers("X-Gennaker-Delivery", long)})
	if !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 {
		t.Errorf("a long header is used as it is: %q", got)
	}
	if other := DeliveryID(Delivery{Header: headers("X-Gennaker-Delivery", long+"y")}); other == got {
		t.Error("two long headers gave the same delivery")
	}
}

var workflowID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`)

func TestExecutionID(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	d := Delivery{Kind: pipeline.TriggerGit, Source: "github", Header: headers("X-GitHub-Delivery", "d-1"), Body: body}
	c := Candidate{Application: "shop", Pipeline: "deploy", PipelineID: "0f6b", Index: 0}

	id := ExecutionID(d, c)
	if !workflowID.MatchString(id) || !regexp.MustCompile(`^trg-[a-z2-7]{26}$`).MatchString(id) {
		t.Fatalf("execution ID %q is not trg- and 26 lower-case base32 characters", id)
	}
	// The body may differ (a redelivery carries the same ID header), the ID may not.
	again := d
	again.Body = []byte(`{"ref":"refs/heads/main","zen":"x"}`)
	if got := ExecutionID(again, c); got != id {
		t.Errorf("same delivery, another ID: %q, %q", got, id)
	}
	upper := d
	upper.Source = "GitHub"
	if got := ExecutionID(upper, c); got != id {
		t.Errorf("a git provider's case changed the ID: %q, %q", got, id)
	}

	seen := map[string]string{id: "base"}
	vary := map[string]func() string{
		"delivery": func() string { e := d; e.Header = headers("X-GitHub-Delivery", "d-2"); return ExecutionID(e, c) },
		"kind":     func() string { e := d; e.Kind = pipeline.TriggerWebhook; return ExecutionID(e, c) },
		"source":   func() string { e := d; e.Source = "gitlab"; return ExecutionID(e, c) },
		"index":    func() string { o := c; o.Index = 1; return ExecutionID(d, o) },
		"pipeline": func() string { o := c; o.PipelineID = "0f6c"; return ExecutionID(d, o) },
		"no id":    func() string { o := c; o.PipelineID = ""; return ExecutionID(d, o) },
		"no id, other name": func() string {
			o := c
			o.PipelineID, o.Pipeline = "", "deploy2"
			return ExecutionID(d, o)
		},
		"body hash": func() string { e := d; e.Header = nil; return ExecutionID(e, c) },
	}
	for name, f := range vary {
		got := f()
		if !workflowID.MatchString(got) {
			t.Errorf("%s: %q is not a valid workflow ID", name, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%s gives the same ID as %s: %q", name, prev, got)
		}
		seen[got] = name
		if f() != got {
			t.Errorf("%s: not deterministic", name)
		}
	}

	// Without a pipeline ID, the application and name stand for it.
	named := Candidate{Application: "shop", Pipeline: "deploy", Index: 0}
	if ExecutionID(d, named) != ExecutionID(d, Candidate{Application: "shop", Pipeline: "deploy", Index: 0, Trigger: pipeline.Trigger{Type: "git"}}) {
		t.Error("the trigger's settings changed the ID")
	}
}
