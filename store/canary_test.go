package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func mustSaveCanary(t *testing.T, s CanaryConfigs, app, name, cfg, user string) CanaryConfigRecord {
	t.Helper()
	rec, err := s.SaveCanaryConfig(context.Background(), app, name, json.RawMessage(cfg), user)
	if err != nil {
		t.Fatalf("SaveCanaryConfig %s/%s: %v", app, name, err)
	}
	return rec
}

func sameCanaryRecord(t *testing.T, got, want CanaryConfigRecord) {
	t.Helper()
	if got.Application != want.Application || got.Name != want.Name || got.Version != want.Version ||
		got.SavedBy != want.SavedBy || !got.SavedAt.Equal(want.SavedAt) || string(got.Config) != string(want.Config) {
		t.Errorf("record\n got %+v config %s\nwant %+v config %s", got, got.Config, want, want.Config)
	}
}

func TestCanaryConfigVersionsAndLatest(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	before := time.Now().Add(-time.Millisecond)
	v1 := mustSaveCanary(t, s, "web", "golden", `{"name":"golden","metrics":[]}`, "alice")
	if v1.Version != 1 || v1.SavedBy != "alice" || v1.Application != "web" || v1.Name != "golden" {
		t.Fatalf("first save = %+v", v1)
	}
	if v1.SavedAt.Location() != time.UTC || v1.SavedAt.Before(before.Truncate(time.Millisecond)) || v1.SavedAt.After(time.Now()) {
		t.Errorf("SavedAt = %v, want UTC now", v1.SavedAt)
	}
	// The same config saved again is still a new version.
	v2 := mustSaveCanary(t, s, "web", "golden", `{"name":"golden","metrics":[]}`, "bob")
	v3 := mustSaveCanary(t, s, "web", "golden", `{"name":"golden","description":"third","metrics":[]}`, "carol")
	if v2.Version != 2 || v3.Version != 3 {
		t.Fatalf("versions = %d, %d, want 2, 3", v2.Version, v3.Version)
	}

	got, err := s.GetCanaryConfig(ctx, "web", "golden")
	if err != nil {
		t.Fatal(err)
	}
	sameCanaryRecord(t, got, v3)

	// Names and applications are case-sensitive and separate configs.
	other := mustSaveCanary(t, s, "Web", "golden", `{"name":"golden"}`, "dave")
	if other.Version != 1 {
		t.Errorf("same name in another application got version %d, want 1", other.Version)
	}
	if _, err := s.GetCanaryConfig(ctx, "web", "Golden"); !errors.Is(err, ErrCanaryConfigNotFound) {
		t.Errorf("Get of another case = %v, want ErrCanaryConfigNotFound", err)
	}
	if _, err := s.GetCanaryConfig(ctx, "api", "golden"); !errors.Is(err, ErrCanaryConfigNotFound) {
		t.Errorf("Get in an application without configs = %v, want ErrCanaryConfigNotFound", err)
	}
}

func TestListCanaryConfigs(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	empty, err := s.ListCanaryConfigs(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	// An empty list, not nil, so the API answers [] rather than null.
	if empty == nil || len(empty) != 0 {
		t.Errorf("list of nothing = %#v, want an empty list", empty)
	}

	mustSaveCanary(t, s, "web", "zeta", `{"v":1}`, "alice")
	mustSaveCanary(t, s, "web", "alpha", `{"v":1}`, "alice")
	latestZeta := mustSaveCanary(t, s, "web", "zeta", `{"v":2}`, "bob")
	mustSaveCanary(t, s, "api", "beta", `{"v":1}`, "alice")

	got, err := s.ListCanaryConfigs(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"alpha", "zeta"}) {
		t.Fatalf("names = %v, want [alpha zeta]: one entry per config, by name, of this application only", names)
	}
	sameCanaryRecord(t, got[1], latestZeta)
}

func TestDeleteCanaryConfig(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	mustSaveCanary(t, s, "web", "golden", `{"v":1}`, "alice")
	mustSaveCanary(t, s, "web", "golden", `{"v":2}`, "alice")
	kept := mustSaveCanary(t, s, "web", "kept", `{"v":1}`, "alice")

	if err := s.DeleteCanaryConfig(ctx, "web", "golden"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCanaryConfig(ctx, "web", "golden"); !errors.Is(err, ErrCanaryConfigNotFound) {
		t.Errorf("Get after delete = %v, want ErrCanaryConfigNotFound", err)
	}
	if err := s.DeleteCanaryConfig(ctx, "web", "golden"); !errors.Is(err, ErrCanaryConfigNotFound) {
		t.Errorf("second delete = %v, want ErrCanaryConfigNotFound", err)
	}
	if err := s.DeleteCanaryConfig(ctx, "other", "kept"); !errors.Is(err, ErrCanaryConfigNotFound) {
		t.Errorf("delete in another application = %v, want ErrCanaryConfigNotFound", err)
	}
	got, err := s.GetCanaryConfig(ctx, "web", "kept")
	if err != nil {
		t.Fatalf("the other config went too: %v", err)
	}
	sameCanaryRecord(t, got, kept)

	// Every version went: a config saved again under the name starts a new history.
	again := mustSaveCanary(t, s, "web", "golden", `{"v":3}`, "bob")
	if again.Version != 1 {
		t.Errorf("save after delete got version %d, want 1", again.Version)
	}
}

func TestSaveCanaryConfigRejects(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, tc := range []struct{ app, name, cfg string }{
		{"", "golden", `{}`},
		{"web", "", `{}`},
		{"web", "golden", `{"name":`},
		{"web", "golden", ``},
	} {
		if _, err := s.SaveCanaryConfig(ctx, tc.app, tc.name, json.RawMessage(tc.cfg), "alice"); err == nil {
			t.Errorf("SaveCanaryConfig(%q, %q, %q) succeeded", tc.app, tc.name, tc.cfg)
		}
	}
	list, err := s.ListCanaryConfigs(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("refused saves stored %+v", list)
	}
}

func TestConcurrentCanarySaves(t *testing.T) {
	s, path := openTemp(t)
	// A second handle on the file stands in for the other process (api and worker share it).
	s2, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })

	const n = 20
	versions := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st := s
			if i%2 == 1 {
				st = s2
			}
			rec, err := st.SaveCanaryConfig(context.Background(), "web", "golden", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), "alice")
			if err != nil {
				t.Errorf("save %d: %v", i, err)
				return
			}
			versions <- rec.Version
		})
	}
	wg.Wait()
	close(versions)
	var got []int
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		t.Errorf("versions = %v, want each of 1..%d once", got, n)
	}
}

// TestCanaryTableAddedToExistingDatabase opens a file written before canary configs existed, as an
// upgraded gennaker would, and expects its pipelines kept and canary configs usable.
func TestCanaryTableAddedToExistingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	const before = 2 // migrations that shipped before the canary table
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, before)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO pipelines (id, application, name, latest_version) VALUES ('p1', 'web', 'deploy', 1);
		INSERT INTO pipeline_versions (pipeline_id, version, config, saved_by, saved_at_ms) VALUES ('p1', 1, '{"name":"deploy"}', 'alice', 0);`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("opening the old file: %v", err)
	}
	defer s.Close()
	if _, err := s.Get(context.Background(), "web", "deploy"); err != nil {
		t.Errorf("the pipeline saved before the upgrade: %v", err)
	}
	rec := mustSaveCanary(t, s, "web", "golden", `{"name":"golden"}`, "alice")
	if rec.Version != 1 {
		t.Errorf("first canary save after the upgrade = version %d", rec.Version)
	}
}

func TestCanaryConfigsSurviveReopen(t *testing.T) {
	s, path := openTemp(t)
	saved := mustSaveCanary(t, s, "web", "golden", `{"name":"golden","metrics":[{"name":"errors"}]}`, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	got, err := reopened.GetCanaryConfig(context.Background(), "web", "golden")
	if err != nil {
		t.Fatal(err)
	}
	sameCanaryRecord(t, got, saved)
}
