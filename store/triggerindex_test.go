package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// names lists the records' application/name.
func names(recs []Record) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Application+"/"+r.Name)
	}
	return strings.Join(out, " ")
}

// TestWithTrigger follows the index through saves, a restore and a delete: a pipeline is found by
// the kinds of its latest version's triggers only.
func TestWithTrigger(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	mustSave(t, s, `{"triggers": [{"type": "docker"}, {"type": "git"}, {"type": "docker", "enabled": false}]}`, "web", "build", "ana")
	mustSave(t, s, `{"triggers": [{"type": "gitlab"}]}`, "web", "lookalike", "ana")
	mustSave(t, s, `{"triggers": [{"type": "cron"}]}`, "api", "nightly", "ana")
	mustSave(t, s, `{"stages": []}`, "api", "manual", "ana")
	mustSave(t, s, `{"triggers": [{"type": 5}, "x", {"type": "git"}]}`, "api", "odd", "ana")
	want := func(kind, names0 string) {
		t.Helper()
		recs, err := s.WithTrigger(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(recs); got != names0 {
			t.Errorf("%s triggers: %q, want %q", kind, got, names0)
		}
	}
	want("docker", "web/build")
	want("git", "api/odd web/build")
	want("cron", "api/nightly")
	want("pubsub", "")

	// A new version without the trigger leaves the index; restoring the old one brings it back.
	mustSave(t, s, `{"triggers": [{"type": "cron"}]}`, "web", "build", "bo")
	want("docker", "")
	want("cron", "api/nightly web/build")
	if _, err := s.Restore(ctx, "web", "build", 1, "cy"); err != nil {
		t.Fatal(err)
	}
	want("docker", "web/build")
	if recs, _ := s.WithTrigger(ctx, "docker"); len(recs) == 1 && recs[0].Version != 3 {
		t.Errorf("the record is the latest version: %d", recs[0].Version)
	}
	if err := s.Delete(ctx, "web", "build", "dee"); err != nil {
		t.Fatal(err)
	}
	want("docker", "")
}

// TestTriggerIndexBackfilled opens a store written before the index existed: the migration
// indexes every pipeline from its latest version.
func TestTriggerIndexBackfilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 3 // the schema's version before the index
	for _, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	pipelines := []struct {
		id, name string
		versions []string
	}{
		{"p1", "build", []string{`{"triggers": [{"type": "cron"}]}`, `{"triggers": [{"type": "docker"}, {"type": "pubsub"}, {"type": "docker"}]}`}},
		{"p2", "was-docker", []string{`{"triggers": [{"type": "docker"}]}`, `{"stages": []}`}},
		{"p3", "odd", []string{`{"triggers": [{"type": 5}, "x", {"type": "git"}]}`}},
		{"p4", "not-a-list", []string{`{"triggers": {"type": "docker"}}`}},
	}
	for _, p := range pipelines {
		if _, err := db.Exec(`INSERT INTO pipelines (id, application, name, latest_version) VALUES (?, 'web', ?, ?)`, p.id, p.name, len(p.versions)); err != nil {
			t.Fatal(err)
		}
		for i, cfg := range p.versions {
			if _, err := db.Exec(`INSERT INTO pipeline_versions (pipeline_id, version, config, saved_by, saved_at_ms) VALUES (?, ?, ?, 'ana', 0)`, p.id, i+1, cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, before)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for kind, want := range map[string]string{"docker": "web/build", "pubsub": "web/build", "cron": "", "git": "web/odd"} {
		recs, err := s.WithTrigger(context.Background(), kind)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(recs); got != want {
			t.Errorf("%s triggers after the migration: %q, want %q", kind, got, want)
		}
	}
}
