package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gennaker/gennaker/pipeline"
)

// openTemp opens a store in a fresh directory that does not exist yet, so OpenSQLite has to create it.
func openTemp(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "gennaker.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func mustSave(t *testing.T, s Store, cfg, app, name, user string) Record {
	t.Helper()
	rec, err := s.Save(context.Background(), json.RawMessage(cfg), app, name, user)
	if err != nil {
		t.Fatalf("Save %s/%s: %v", app, name, err)
	}
	return rec
}

// decode reads JSON keeping numbers exact, so comparisons see what was written.
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return m
}

func sameRecord(t *testing.T, got, want Record) {
	t.Helper()
	if got.ID != want.ID || got.Application != want.Application || got.Name != want.Name ||
		got.Version != want.Version || got.SavedBy != want.SavedBy || !got.SavedAt.Equal(want.SavedAt) ||
		!bytes.Equal(got.Config, want.Config) {
		t.Errorf("record\n got %+v config %s\nwant %+v config %s", got, got.Config, want, want.Config)
	}
}

func TestSaveGetListApplications(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	saved := map[string]Record{}
	for _, p := range []struct{ app, name string }{
		{"web", "deploy"},
		{"web", "Deploy"}, // names are case-sensitive: a different pipeline
		{"web", "canary"},
		{"Web", "deploy"},
		{"api", "deploy"},
	} {
		cfg := fmt.Sprintf(`{"application":%q,"name":%q,"stages":[]}`, p.app, p.name)
		saved[p.app+"/"+p.name] = mustSave(t, s, cfg, p.app, p.name, "alice")
	}

	for key, want := range saved {
		got, err := s.Get(ctx, want.Application, want.Name)
		if err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		sameRecord(t, got, want)
		if got.Version != 1 {
			t.Errorf("Get %s: version %d, want 1", key, got.Version)
		}
	}

	list, err := s.List(ctx, "web")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
		sameRecord(t, r, saved["web/"+r.Name])
	}
	if want := []string{"Deploy", "canary", "deploy"}; !slices.Equal(names, want) {
		t.Errorf("List(web) names = %q, want %q", names, want)
	}

	empty, err := s.List(ctx, "nothing")
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("List(nothing) = %v, %v; want an empty, non-nil list", empty, err)
	}

	apps, err := s.Applications(ctx)
	if err != nil {
		t.Fatalf("Applications: %v", err)
	}
	if want := []string{"Web", "api", "web"}; !slices.Equal(apps, want) {
		t.Errorf("Applications = %q, want %q", apps, want)
	}

	for _, tc := range []struct{ name, app, pipeline string }{
		{"unknown application", "mobile", "deploy"},
		{"unknown name", "web", "rollback"},
		{"application differs in case", "WEB", "deploy"},
		{"name differs in case", "api", "DEPLOY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Get(ctx, tc.app, tc.pipeline); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%s, %s) error = %v, want ErrNotFound", tc.app, tc.pipeline, err)
			}
		})
	}
}

// A pipeline saved with the id Spinnaker gave it keeps that id, which pipeline triggers and
// pipeline stages of other pipelines name it by; an id another pipeline has is refused.
func TestGivenIDIsKept(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	rec := mustSave(t, s, `{"id":"f1d724be-7f75-43fc-b0f5-d7efa4b173af","application":"web","name":"deploy","stages":[]}`, "web", "deploy", "alice")
	if rec.ID != "f1d724be-7f75-43fc-b0f5-d7efa4b173af" {
		t.Errorf("ID = %s, want the given one", rec.ID)
	}
	if byID, err := s.GetByID(ctx, rec.ID); err != nil || byID.Name != "deploy" {
		t.Errorf("GetByID: %+v, %v", byID, err)
	}
	if _, err := s.Save(ctx, json.RawMessage(`{"id":"f1d724be-7f75-43fc-b0f5-d7efa4b173af","application":"web","name":"other","stages":[]}`), "web", "other", "bob"); !errors.Is(err, ErrIDTaken) {
		t.Errorf("another pipeline with the same id: %v, want ErrIDTaken", err)
	}
}

func TestIDAssignedOnceAndWrittenIntoConfig(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	first := mustSave(t, s, `{"application":"web","name":"deploy","stages":[]}`, "web", "deploy", "alice")
	if _, err := uuid.Parse(first.ID); err != nil {
		t.Fatalf("ID %q is not a UUID: %v", first.ID, err)
	}
	if got := decode(t, first.Config)["id"]; got != first.ID {
		t.Errorf("config id = %v, want %s", got, first.ID)
	}

	// A later save carrying another id is refused, as Front50 refuses a second pipeline of the
	// same name: the id is what other pipelines' triggers and stages name it by.
	if _, err := s.Save(ctx, json.RawMessage(`{"id":"something-else","application":"web","name":"deploy","stages":[]}`), "web", "deploy", "bob"); !errors.Is(err, ErrIDTaken) {
		t.Errorf("saving with another id: %v, want ErrIDTaken", err)
	}
	second := mustSave(t, s, `{"id":"`+first.ID+`","application":"web","name":"deploy","stages":[]}`, "web", "deploy", "bob")
	if second.ID != first.ID {
		t.Errorf("second save ID = %s, want %s", second.ID, first.ID)
	}
	if got := decode(t, second.Config)["id"]; got != first.ID {
		t.Errorf("second config id = %v, want %s", got, first.ID)
	}

	byID, err := s.GetByID(ctx, first.ID)
	if err != nil {
		t.Fatalf("GetByID: %v", err)
	}
	sameRecord(t, byID, second)

	other := mustSave(t, s, `{"stages":[]}`, "web", "rollback", "alice")
	if other.ID == first.ID {
		t.Error("two pipelines share an id")
	}

	if _, err := s.GetByID(ctx, uuid.NewString()); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetByID(unknown) error = %v, want ErrNotFound", err)
	}
}

func TestUnknownFieldsSurviveRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	cfg := `{
		"schema": "1",
		"application": "web",
		"name": "deploy",
		"spelEvaluator": "v4",
		"lastModifiedBy": "anonymous",
		"updateTs": 1712345678901234567,
		"expectedArtifacts": [{"id": "a1", "matchArtifact": {"type": "docker/image", "name": "gcr.io/x"}}],
		"stages": [{"refId": "1", "type": "wait", "waitTime": 30, "customThing": {"deep": [1, 2.50, null]}}],
		"triggers": [{"type": "cron", "cronExpression": "0 0 * * * ?", "runAsUser": "svc"}],
		"description": "runs when ${ trigger.x > 1 && a < b }",
		"unicode": "déploiement 🚀"
	}`
	saved := mustSave(t, s, cfg, "web", "deploy", "alice")
	got, err := s.Get(ctx, "web", "deploy")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}

	want := decode(t, []byte(cfg))
	want["id"] = saved.ID
	if gotMap := decode(t, got.Config); !reflect.DeepEqual(gotMap, want) {
		t.Errorf("config changed in the store\n got %v\nwant %v", gotMap, want)
	}
	// Numbers keep their spelling, so no precision or formatting is lost.
	for _, text := range []string{"1712345678901234567", "2.50", `"runs when ${ trigger.x > 1 && a < b }"`} {
		if !bytes.Contains(got.Config, []byte(text)) {
			t.Errorf("stored config lost %s: %s", text, got.Config)
		}
	}

	// The typed model sees the unknown fields too.
	p, err := pipeline.Decode(got.Config)
	if err != nil {
		t.Fatalf("pipeline.Decode: %v", err)
	}
	if p.ID != saved.ID || p.Application != "web" || p.Name != "deploy" {
		t.Errorf("typed pipeline = %s/%s id %s", p.Application, p.Name, p.ID)
	}
	for _, field := range []string{"schema", "spelEvaluator", "lastModifiedBy", "updateTs", "expectedArtifacts", "unicode"} {
		if _, ok := p.Extra[field]; !ok {
			t.Errorf("typed pipeline lost %q", field)
		}
	}
	if p.Stages[0].Context["customThing"] == nil {
		t.Error("stage lost customThing")
	}
}

func TestVersionsNewestFirst(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	before := time.Now().Truncate(time.Millisecond)
	users := []string{"alice", "bob", "carol"}
	for i, user := range users {
		mustSave(t, s, fmt.Sprintf(`{"stages":[],"step":%d}`, i+1), "web", "deploy", user)
	}
	after := time.Now()

	versions, err := s.Versions(ctx, "web", "deploy")
	if err != nil {
		t.Fatalf("Versions: %v", err)
	}
	if len(versions) != len(users) {
		t.Fatalf("got %d versions, want %d", len(versions), len(users))
	}
	for i, v := range versions {
		wantVersion := len(users) - i
		if v.Version != wantVersion || v.SavedBy != users[wantVersion-1] {
			t.Errorf("versions[%d] = %d by %s, want %d by %s", i, v.Version, v.SavedBy, wantVersion, users[wantVersion-1])
		}
		if v.SavedAt.Location() != time.UTC {
			t.Errorf("versions[%d] time %v is not UTC", i, v.SavedAt)
		}
		if v.SavedAt.Before(before) || v.SavedAt.After(after) {
			t.Errorf("versions[%d] time %v outside [%v, %v]", i, v.SavedAt, before, after)
		}
		if i > 0 && v.SavedAt.After(versions[i-1].SavedAt) {
			t.Errorf("version %d saved after version %d", v.Version, versions[i-1].Version)
		}
	}

	if _, err := s.Versions(ctx, "web", "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Versions(missing) error = %v, want ErrNotFound", err)
	}
}

func TestGetVersion(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	var saved []Record
	for i := 1; i <= 3; i++ {
		saved = append(saved, mustSave(t, s, fmt.Sprintf(`{"stages":[],"step":%d}`, i), "web", "deploy", fmt.Sprintf("user%d", i)))
	}

	for _, tc := range []struct {
		name     string
		pipeline string
		version  int
		want     *Record
		wantErr  error
	}{
		{name: "first", pipeline: "deploy", version: 1, want: &saved[0]},
		{name: "middle", pipeline: "deploy", version: 2, want: &saved[1]},
		{name: "latest", pipeline: "deploy", version: 3, want: &saved[2]},
		{name: "zero", pipeline: "deploy", version: 0, wantErr: ErrVersionNotFound},
		{name: "beyond latest", pipeline: "deploy", version: 4, wantErr: ErrVersionNotFound},
		{name: "missing pipeline", pipeline: "rollback", version: 1, wantErr: ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GetVersion(ctx, "web", tc.pipeline, tc.version)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetVersion: %v", err)
			}
			sameRecord(t, got, *tc.want)
		})
	}
}

func TestRestore(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	v1 := mustSave(t, s, `{"stages":[{"refId":"1","type":"wait","waitTime":10}]}`, "web", "deploy", "alice")
	mustSave(t, s, `{"stages":[{"refId":"1","type":"wait","waitTime":99}]}`, "web", "deploy", "bob")

	restored, err := s.Restore(ctx, "web", "deploy", 1, "carol")
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if restored.Version != 3 || restored.SavedBy != "carol" || restored.ID != v1.ID {
		t.Errorf("restored = version %d by %s id %s, want version 3 by carol id %s", restored.Version, restored.SavedBy, restored.ID, v1.ID)
	}
	if !bytes.Equal(restored.Config, v1.Config) {
		t.Errorf("restored config %s, want %s", restored.Config, v1.Config)
	}
	latest, err := s.Get(ctx, "web", "deploy")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameRecord(t, latest, restored)

	for _, tc := range []struct {
		name     string
		pipeline string
		version  int
		wantErr  error
	}{
		{"missing version", "deploy", 7, ErrVersionNotFound},
		{"missing pipeline", "rollback", 1, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Restore(ctx, "web", tc.pipeline, tc.version, "dave"); !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
	// A failed restore leaves the history alone.
	if versions, err := s.Versions(ctx, "web", "deploy"); err != nil || len(versions) != 3 {
		t.Errorf("after failed restores: %d versions, %v; want 3", len(versions), err)
	}
}

func TestDelete(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	gone := mustSave(t, s, `{"stages":[]}`, "web", "deploy", "alice")
	mustSave(t, s, `{"stages":[]}`, "web", "deploy", "bob")
	mustSave(t, s, `{"stages":[]}`, "api", "deploy", "alice")

	if err := s.Delete(ctx, "web", "deploy", "carol"); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "web", "deploy"); return err }},
		{"GetByID", func() error { _, err := s.GetByID(ctx, gone.ID); return err }},
		{"Versions", func() error { _, err := s.Versions(ctx, "web", "deploy"); return err }},
		{"GetVersion", func() error { _, err := s.GetVersion(ctx, "web", "deploy", 1); return err }},
		{"Delete again", func() error { return s.Delete(ctx, "web", "deploy", "carol") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrNotFound) {
				t.Errorf("error = %v, want ErrNotFound", err)
			}
		})
	}

	var orphans int
	if err := s.db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM pipeline_versions WHERE pipeline_id = ?`, gone.ID).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d versions of the deleted pipeline remain", orphans)
	}

	apps, err := s.Applications(ctx)
	if err != nil || !slices.Equal(apps, []string{"api"}) {
		t.Errorf("Applications = %q, %v; want [api]", apps, err)
	}
	if _, err := s.Get(ctx, "api", "deploy"); err != nil {
		t.Errorf("the other application's pipeline went too: %v", err)
	}

	// Saving the name again starts a new pipeline with a new history.
	again := mustSave(t, s, `{"stages":[]}`, "web", "deploy", "dave")
	if again.Version != 1 || again.ID == gone.ID {
		t.Errorf("after delete: version %d id %s, want version 1 and a new id", again.Version, again.ID)
	}
}

func TestSaveRejects(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()

	for _, tc := range []struct {
		name, cfg, app, pipeline string
	}{
		{"empty application", `{"stages":[]}`, "", "deploy"},
		{"empty name", `{"stages":[]}`, "web", ""},
		{"config names another application", `{"application":"api","stages":[]}`, "web", "deploy"},
		{"config names another pipeline", `{"name":"rollback","stages":[]}`, "web", "deploy"},
		{"not an object", `[]`, "web", "deploy"},
		{"not JSON", `stages: []`, "web", "deploy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Save(ctx, json.RawMessage(tc.cfg), tc.app, tc.pipeline, "alice"); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error = %v, want ErrInvalidConfig", err)
			}
		})
	}
	// Nothing half-saved is left behind by the refusals.
	if apps, err := s.Applications(ctx); err != nil || len(apps) != 0 {
		t.Errorf("Applications = %q, %v; want none", apps, err)
	}
}

func TestConcurrentSaves(t *testing.T) {
	const saves = 20
	for _, tc := range []struct {
		name    string
		handles int // more than one stands for the api and worker processes sharing the file
	}{
		{"one handle", 1},
		{"two handles", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, path := openTemp(t)
			stores := []*SQLite{first}
			for len(stores) < tc.handles {
				s, err := OpenSQLite(path)
				if err != nil {
					t.Fatalf("OpenSQLite again: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				stores = append(stores, s)
			}

			records := make([]Record, saves)
			errs := make([]error, saves)
			var wg sync.WaitGroup
			for i := range saves {
				wg.Go(func() {
					s := stores[i%len(stores)]
					cfg := fmt.Sprintf(`{"stages":[],"writer":%d}`, i)
					records[i], errs[i] = s.Save(context.Background(), json.RawMessage(cfg), "web", "deploy", fmt.Sprintf("user%d", i))
				})
			}
			wg.Wait()

			var versions []int
			for i, rec := range records {
				if errs[i] != nil {
					t.Fatalf("save %d: %v", i, errs[i])
				}
				if rec.ID != records[0].ID {
					t.Errorf("save %d got id %s, save 0 got %s", i, rec.ID, records[0].ID)
				}
				versions = append(versions, rec.Version)
			}
			slices.Sort(versions)
			for i, v := range versions {
				if v != i+1 {
					t.Fatalf("versions = %v, want 1..%d", versions, saves)
				}
			}

			history, err := first.Versions(context.Background(), "web", "deploy")
			if err != nil || len(history) != saves {
				t.Fatalf("Versions: %d entries, %v; want %d", len(history), err, saves)
			}
			// Each stored version holds the config its own save wrote.
			for _, rec := range records {
				got, err := first.GetVersion(context.Background(), "web", "deploy", rec.Version)
				if err != nil {
					t.Fatalf("GetVersion %d: %v", rec.Version, err)
				}
				sameRecord(t, got, rec)
			}
		})
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gennaker.db")
	ctx := context.Background()

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	v1 := mustSave(t, s, `{"stages":[],"keep":"me"}`, "web", "deploy", "alice")
	v2 := mustSave(t, s, `{"stages":[]}`, "web", "deploy", "bob")
	other := mustSave(t, s, `{"stages":[]}`, "api", "build", "carol")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()

	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}

	got, err := s.Get(ctx, "web", "deploy")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	sameRecord(t, got, v2)
	old, err := s.GetVersion(ctx, "web", "deploy", 1)
	if err != nil {
		t.Fatalf("GetVersion after reopen: %v", err)
	}
	sameRecord(t, old, v1)
	byID, err := s.GetByID(ctx, other.ID)
	if err != nil {
		t.Fatalf("GetByID after reopen: %v", err)
	}
	sameRecord(t, byID, other)
	if apps, err := s.Applications(ctx); err != nil || !slices.Equal(apps, []string{"api", "web"}) {
		t.Errorf("Applications = %q, %v", apps, err)
	}

	// Numbering carries on from the stored history.
	if v3 := mustSave(t, s, `{"stages":[]}`, "web", "deploy", "dave"); v3.Version != 3 || v3.ID != v1.ID {
		t.Errorf("save after reopen = version %d id %s, want 3 and %s", v3.Version, v3.ID, v1.ID)
	}
}

func TestMemoryStore(t *testing.T) {
	s, err := OpenSQLite(MemoryPath)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	defer s.Close()
	ctx := context.Background()

	// Concurrent use must see one database, not one per pooled connection.
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := s.Save(ctx, json.RawMessage(`{"stages":[]}`), "web", fmt.Sprintf("p%d", i), "alice"); err != nil {
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Wait()
	list, err := s.List(ctx, "web")
	if err != nil || len(list) != 5 {
		t.Errorf("List = %d records, %v; want 5", len(list), err)
	}
}

func TestStamp(t *testing.T) {
	const id = "0b6c0a7e-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name    string
		cfg     string
		want    string
		wantErr error
	}{
		{
			name: "keeps field order and replaces in place",
			cfg:  `{"z":1,"id":"old","name":"deploy","a":[1, 2],"application":"web"}`,
			want: `{"z":1,"id":"` + id + `","name":"deploy","a":[1, 2],"application":"web"}`,
		},
		{
			name: "appends missing fields",
			cfg:  ` { "stages" : [ ] } `,
			want: `{"stages":[ ],"application":"web","name":"deploy","id":"` + id + `"}`,
		},
		{
			name: "empty object",
			cfg:  `{}`,
			want: `{"application":"web","name":"deploy","id":"` + id + `"}`,
		},
		{
			name: "blank and null names are filled in",
			cfg:  `{"application":"","name":null}`,
			want: `{"application":"web","name":"deploy","id":"` + id + `"}`,
		},
		{
			name: "values kept byte for byte",
			cfg:  `{"n":1.50e3,"s":"a < b && \u00e9","big":123456789012345678901234567890}`,
			want: `{"n":1.50e3,"s":"a < b && \u00e9","big":123456789012345678901234567890,"application":"web","name":"deploy","id":"` + id + `"}`,
		},
		{name: "other application", cfg: `{"application":"api"}`, wantErr: ErrInvalidConfig},
		{name: "application differs in case", cfg: `{"application":"Web"}`, wantErr: ErrInvalidConfig},
		{name: "other name", cfg: `{"name":"rollback"}`, wantErr: ErrInvalidConfig},
		{name: "name not a string", cfg: `{"name":7}`, wantErr: ErrInvalidConfig},
		{name: "array", cfg: `[{"name":"deploy"}]`, wantErr: ErrInvalidConfig},
		{name: "empty", cfg: ``, wantErr: ErrInvalidConfig},
		{name: "truncated", cfg: `{"name":"deploy"`, wantErr: ErrInvalidConfig},
		{name: "trailing data", cfg: `{"name":"deploy"} {}`, wantErr: ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stamp(json.RawMessage(tc.cfg), id, "web", "deploy")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("stamp: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("stamp\n got %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("stamp produced invalid JSON: %s", got)
			}
		})
	}
}

func TestTriggerEvents(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for i := range maxTriggerEvents + 5 {
		ev := TriggerEvent{Application: "web", Pipeline: "deploy", Kind: "webhook", Source: "ci",
			DeliveryID: fmt.Sprintf("d-%d", i), Outcome: TriggerStarted, ExecutionID: fmt.Sprintf("x-%d", i)}
		if err := s.RecordTriggerEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordTriggerEvent(ctx, TriggerEvent{Application: "shop", Pipeline: "p", Kind: "git", Source: "github",
		DeliveryID: "g-1", Outcome: TriggerDisabled, Reason: "the pipeline is disabled"}); err != nil {
		t.Fatal(err)
	}
	web, err := s.TriggerEvents(ctx, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Bounded per application, newest first.
	if len(web) != maxTriggerEvents || web[0].DeliveryID != fmt.Sprintf("d-%d", maxTriggerEvents+4) || web[len(web)-1].DeliveryID != "d-5" {
		t.Errorf("%d events, first %+v, last %+v", len(web), web[0], web[len(web)-1])
	}
	shop, err := s.TriggerEvents(ctx, "shop", 10)
	if err != nil || len(shop) != 1 || shop[0].Outcome != TriggerDisabled || shop[0].Reason == "" || shop[0].At.IsZero() {
		t.Errorf("shop events %+v, %v", shop, err)
	}
	if none, err := s.TriggerEvents(ctx, "none", 10); err != nil || len(none) != 0 {
		t.Errorf("events of an application without any: %v, %v", none, err)
	}
}
