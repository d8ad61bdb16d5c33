package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// MemoryPath opens a private database that lives only as long as the SQLite value, for tests and
// throwaway dev servers.
const MemoryPath = ":memory:"

// busyTimeout is how long a connection waits for another writer, possibly in another process
// (the api and the worker share one file), before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// migrations are applied in order, each once; PRAGMA user_version records how many have run.
// Append to this list, never edit an entry that has shipped.
var migrations = []string{
	`CREATE TABLE pipelines (
		id             TEXT    PRIMARY KEY,
		application    TEXT    NOT NULL,
		name           TEXT    NOT NULL,
		latest_version INTEGER NOT NULL CHECK (latest_version > 0),
		UNIQUE (application, name)
	);
	CREATE TABLE pipeline_versions (
		pipeline_id TEXT    NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
		version     INTEGER NOT NULL CHECK (version > 0),
		config      TEXT    NOT NULL,
		saved_by    TEXT    NOT NULL,
		saved_at_ms INTEGER NOT NULL,
		PRIMARY KEY (pipeline_id, version)
	);`,
	`CREATE TABLE trigger_events (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		application TEXT    NOT NULL,
		pipeline    TEXT    NOT NULL,
		kind        TEXT    NOT NULL,
		source      TEXT    NOT NULL,
		delivery_id TEXT    NOT NULL,
		outcome     TEXT    NOT NULL,
		execution   TEXT    NOT NULL,
		reason      TEXT    NOT NULL,
		at_ms       INTEGER NOT NULL
	);
	CREATE INDEX trigger_events_by_application ON trigger_events (application, id);`,
	// Canary configs are looked up by application and name, not by id, so one table suffices:
	// the latest version is the highest, and deleting a config deletes all its rows.
	`CREATE TABLE canary_config_versions (
		application TEXT    NOT NULL,
		name        TEXT    NOT NULL,
		version     INTEGER NOT NULL CHECK (version > 0),
		config      TEXT    NOT NULL,
		saved_by    TEXT    NOT NULL,
		saved_at_ms INTEGER NOT NULL,
		PRIMARY KEY (application, name, version)
	);`,
	// The kinds of the triggers of each pipeline's latest version, as ",docker,cron,", so that a
	// delivery reads only the pipelines it may fire. Existing pipelines are indexed from their
	// latest version's config.
	`ALTER TABLE pipelines ADD COLUMN trigger_kinds TEXT NOT NULL DEFAULT '';
	UPDATE pipelines SET trigger_kinds = COALESCE((
		SELECT ',' || group_concat(DISTINCT json_extract(v.config, t.fullkey || '.type')) || ','
		FROM pipeline_versions v, json_each(v.config, '$.triggers') t
		WHERE v.pipeline_id = pipelines.id AND v.version = pipelines.latest_version
			AND json_type(v.config, '$.triggers') = 'array' AND t.type = 'object'
			AND json_type(v.config, t.fullkey || '.type') = 'text'), '');`,
}

// maxTriggerEvents bounds the trigger events kept per application; older ones are dropped.
const maxTriggerEvents = 1000

// SQLite is the Store kept in a single SQLite file, safe for several processes to share.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens the database at path, creating the file, its directory and the schema as
// needed. MemoryPath opens a database held in memory instead.
func OpenSQLite(path string) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("opening pipeline store: empty path")
	}
	memory := path == MemoryPath
	if !memory {
		// The driver takes everything after '?' as connection options.
		if strings.ContainsRune(path, '?') {
			return nil, fmt.Errorf("opening pipeline store %s: path must not contain '?'", path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("opening pipeline store: %w", err)
		}
	}

	// Pragmas go in the DSN so that every pooled connection gets them, not just the first.
	opts := url.Values{}
	opts.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	if !memory {
		// WAL lets readers in one process carry on while the other process writes.
		opts.Add("_pragma", "journal_mode(WAL)")
		opts.Add("_pragma", "synchronous(NORMAL)")
	}
	opts.Add("_pragma", "foreign_keys(1)")
	// Taking the write lock when a transaction begins, rather than on its first write, makes a
	// contended writer wait under busy_timeout instead of failing at once when its read lock
	// cannot be upgraded.
	opts.Set("_txlock", "immediate")

	db, err := sql.Open("sqlite", path+"?"+opts.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening pipeline store %s: %w", path, err)
	}
	if memory {
		// Each connection to :memory: is a separate empty database; keep exactly one, for ever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	s := &SQLite{db: db}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening pipeline store %s: %w", path, err)
	}
	return s, nil
}

// migrate brings the schema up to date. It runs in one write transaction, so two processes starting
// together cannot both apply the same migration.
func (s *SQLite) migrate(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var applied int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&applied); err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		if applied > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this binary knows (%d)", applied, len(migrations))
		}
		for i := applied; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("applying migration %d: %w", i+1, err)
			}
		}
		if applied < len(migrations) {
			// PRAGMA takes no bound parameters; the value is an int we computed.
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
				return fmt.Errorf("recording schema version: %w", err)
			}
		}
		return nil
	})
}

// Close releases the database; an in-memory database is gone afterwards.
func (s *SQLite) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing pipeline store: %w", err)
	}
	return nil
}

// Save stores cfg as the pipeline's next version; see Writer.
func (s *SQLite) Save(ctx context.Context, cfg json.RawMessage, app, name, user string) (Record, error) {
	if app == "" || name == "" {
		return Record{}, fmt.Errorf("saving pipeline: %w: application and name are required", ErrInvalidConfig)
	}
	var rec Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = saveTx(ctx, tx, cfg, app, name, user)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("saving pipeline %s/%s: %w", app, name, err)
	}
	return rec, nil
}

// saveTx appends a version inside tx, which must hold the write lock so the version number it
// reads cannot be taken by a concurrent save before it writes.
func saveTx(ctx context.Context, tx *sql.Tx, cfg json.RawMessage, app, name, user string) (Record, error) {
	var id string
	var latest int
	err := tx.QueryRowContext(ctx,
		`SELECT id, latest_version FROM pipelines WHERE application = ? AND name = ?`,
		app, name).Scan(&id, &latest)
	given := configID(cfg)
	switch {
	case errors.Is(err, sql.ErrNoRows) && given != "":
		// Front50 keeps the id a pipeline is given, which other pipelines' triggers and pipeline
		// stages may already name.
		var app2, name2 string
		switch err := tx.QueryRowContext(ctx, `SELECT application, name FROM pipelines WHERE id = ?`, given).Scan(&app2, &name2); {
		case err == nil:
			return Record{}, fmt.Errorf("%w: id %q is the id of pipeline %s/%s", ErrIDTaken, given, app2, name2)
		case !errors.Is(err, sql.ErrNoRows):
			return Record{}, fmt.Errorf("reading pipeline ids: %w", err)
		}
		id = given
	case errors.Is(err, sql.ErrNoRows):
		id = uuid.NewString()
	case err != nil:
		return Record{}, fmt.Errorf("reading latest version: %w", err)
	case given != "" && given != id:
		return Record{}, fmt.Errorf("%w: pipeline %s/%s has id %q, not %q; leave id out, or give %q, to save a new version of it",
			ErrIDTaken, app, name, id, given, id)
	}

	stamped, err := stamp(cfg, id, app, name)
	if err != nil {
		return Record{}, err
	}
	version := latest + 1
	savedAt := time.Now().UnixMilli()

	kinds := triggerKinds(stamped)
	if latest == 0 {
		_, err = tx.ExecContext(ctx,
			`INSERT INTO pipelines (id, application, name, latest_version, trigger_kinds) VALUES (?, ?, ?, ?, ?)`,
			id, app, name, version, kinds)
	} else {
		_, err = tx.ExecContext(ctx,
			`UPDATE pipelines SET latest_version = ?, trigger_kinds = ? WHERE id = ?`, version, kinds, id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("recording version %d: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO pipeline_versions (pipeline_id, version, config, saved_by, saved_at_ms) VALUES (?, ?, ?, ?, ?)`,
		id, version, string(stamped), user, savedAt); err != nil {
		return Record{}, fmt.Errorf("storing version %d: %w", version, err)
	}
	return Record{
		ID:          id,
		Application: app,
		Name:        name,
		Version:     version,
		Config:      stamped,
		SavedBy:     user,
		SavedAt:     fromMillis(savedAt),
	}, nil
}

// latestQuery selects the latest version of pipelines, filtered by the WHERE clause appended to it.
const latestQuery = `SELECT p.id, p.application, p.name, v.version, v.config, v.saved_by, v.saved_at_ms
	FROM pipelines p JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.latest_version `

// Get returns the latest version of a pipeline; see Reader.
func (s *SQLite) Get(ctx context.Context, app, name string) (Record, error) {
	rec, err := scanRecord(s.db.QueryRowContext(ctx,
		latestQuery+`WHERE p.application = ? AND p.name = ?`, app, name))
	if err != nil {
		return Record{}, fmt.Errorf("getting pipeline %s/%s: %w", app, name, err)
	}
	return rec, nil
}

// GetByID returns the latest version of the pipeline with the given id; see Reader.
func (s *SQLite) GetByID(ctx context.Context, id string) (Record, error) {
	rec, err := scanRecord(s.db.QueryRowContext(ctx, latestQuery+`WHERE p.id = ?`, id))
	if err != nil {
		return Record{}, fmt.Errorf("getting pipeline %s: %w", id, err)
	}
	return rec, nil
}

// List returns the latest version of every pipeline of app, by name; see Reader.
func (s *SQLite) List(ctx context.Context, app string) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, latestQuery+`WHERE p.application = ? ORDER BY p.name`, app)
	if err != nil {
		return nil, fmt.Errorf("listing pipelines of %s: %w", app, err)
	}
	defer rows.Close()
	records := []Record{}
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("listing pipelines of %s: %w", app, err)
		}
		records = append(records, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing pipelines of %s: %w", app, err)
	}
	return records, nil
}

// WithTrigger returns the latest version of every pipeline with a trigger of kind; see Reader.
func (s *SQLite) WithTrigger(ctx context.Context, kind string) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, latestQuery+`WHERE instr(p.trigger_kinds, ',' || ? || ',') > 0 ORDER BY p.application, p.name`, kind)
	if err != nil {
		return nil, fmt.Errorf("listing pipelines with %s triggers: %w", kind, err)
	}
	defer rows.Close()
	records := []Record{}
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("listing pipelines with %s triggers: %w", kind, err)
		}
		records = append(records, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing pipelines with %s triggers: %w", kind, err)
	}
	return records, nil
}

// triggerKinds lists the kinds of a pipeline config's triggers as the trigger_kinds column keeps
// them. A config it cannot read has none: nothing could fire it anyway.
func triggerKinds(cfg json.RawMessage) string {
	var doc struct {
		Triggers []json.RawMessage `json:"triggers"`
	}
	if json.Unmarshal(cfg, &doc) != nil {
		return ""
	}
	var kinds []string
	for _, raw := range doc.Triggers {
		var t struct {
			Type string `json:"type"`
		}
		// As the migration reads them: an entry that is not an object with a text type is none.
		if json.Unmarshal(raw, &t) == nil && t.Type != "" && !slices.Contains(kinds, t.Type) {
			kinds = append(kinds, t.Type)
		}
	}
	if len(kinds) == 0 {
		return ""
	}
	return "," + strings.Join(kinds, ",") + ","
}

// Applications returns the sorted names of applications with pipelines; see Reader.
func (s *SQLite) Applications(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT application FROM pipelines ORDER BY application`)
	if err != nil {
		return nil, fmt.Errorf("listing applications: %w", err)
	}
	defer rows.Close()
	apps := []string{}
	for rows.Next() {
		var app string
		if err := rows.Scan(&app); err != nil {
			return nil, fmt.Errorf("listing applications: %w", err)
		}
		apps = append(apps, app)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing applications: %w", err)
	}
	return apps, nil
}

// Versions lists a pipeline's history, newest first; see History.
func (s *SQLite) Versions(ctx context.Context, app, name string) ([]Version, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT v.version, v.saved_by, v.saved_at_ms
		FROM pipelines p JOIN pipeline_versions v ON v.pipeline_id = p.id
		WHERE p.application = ? AND p.name = ?
		ORDER BY v.version DESC`, app, name)
	if err != nil {
		return nil, fmt.Errorf("listing versions of %s/%s: %w", app, name, err)
	}
	defer rows.Close()
	var versions []Version
	for rows.Next() {
		var v Version
		var ms int64
		if err := rows.Scan(&v.Version, &v.SavedBy, &ms); err != nil {
			return nil, fmt.Errorf("listing versions of %s/%s: %w", app, name, err)
		}
		v.SavedAt = fromMillis(ms)
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing versions of %s/%s: %w", app, name, err)
	}
	// A pipeline always has at least one version, so no rows means no pipeline.
	if len(versions) == 0 {
		return nil, fmt.Errorf("listing versions of %s/%s: %w", app, name, ErrNotFound)
	}
	return versions, nil
}

// GetVersion returns one version of a pipeline; see History.
func (s *SQLite) GetVersion(ctx context.Context, app, name string, version int) (Record, error) {
	rec, err := getVersion(ctx, s.db, app, name, version)
	if err != nil {
		return Record{}, fmt.Errorf("getting version %d of %s/%s: %w", version, app, name, err)
	}
	return rec, nil
}

// Restore saves an earlier version's config as the newest version; see History.
func (s *SQLite) Restore(ctx context.Context, app, name string, version int, user string) (Record, error) {
	var rec Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getVersion(ctx, tx, app, name, version)
		if err != nil {
			return err
		}
		rec, err = saveTx(ctx, tx, old.Config, app, name, user)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("restoring version %d of %s/%s: %w", version, app, name, err)
	}
	return rec, nil
}

// Delete removes a pipeline and, through the foreign key's cascade, its history; see Writer. The
// SQLite store keeps no record of who deleted it.
func (s *SQLite) Delete(ctx context.Context, app, name, user string) error {
	res, err := s.db.ExecContext(ctx,
		`DELETE FROM pipelines WHERE application = ? AND name = ?`, app, name)
	if err != nil {
		return fmt.Errorf("deleting pipeline %s/%s: %w", app, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("deleting pipeline %s/%s: %w", app, name, err)
	}
	if n == 0 {
		return fmt.Errorf("deleting pipeline %s/%s: %w", app, name, ErrNotFound)
	}
	return nil
}

// queryer is what reads need from either the database or a transaction.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getVersion reads one version, telling a missing pipeline from a missing version.
func getVersion(ctx context.Context, q queryer, app, name string, version int) (Record, error) {
	var (
		rec     Record
		number  sql.NullInt64
		config  []byte
		savedBy sql.NullString
		savedAt sql.NullInt64
	)
	// The outer join returns the pipeline's row even when the version is missing.
	err := q.QueryRowContext(ctx,
		`SELECT p.id, p.application, p.name, v.version, v.config, v.saved_by, v.saved_at_ms
		FROM pipelines p LEFT JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = ?
		WHERE p.application = ? AND p.name = ?`, version, app, name).
		Scan(&rec.ID, &rec.Application, &rec.Name, &number, &config, &savedBy, &savedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Record{}, ErrNotFound
	case err != nil:
		return Record{}, err
	case !number.Valid:
		return Record{}, ErrVersionNotFound
	}
	rec.Version = int(number.Int64)
	rec.Config = config
	rec.SavedBy = savedBy.String
	rec.SavedAt = fromMillis(savedAt.Int64)
	return rec, nil
}

// scanner is a single row from either QueryRow or Query.
type scanner interface {
	Scan(dest ...any) error
}

// scanRecord reads a row of latestQuery, turning no row into ErrNotFound.
func scanRecord(row scanner) (Record, error) {
	var rec Record
	var config []byte
	var ms int64
	err := row.Scan(&rec.ID, &rec.Application, &rec.Name, &rec.Version, &config, &rec.SavedBy, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, err
	}
	rec.Config = config
	rec.SavedAt = fromMillis(ms)
	return rec, nil
}

// inTx runs fn in a write transaction, committing if it succeeds and rolling back otherwise.
func (s *SQLite) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		// The rollback error adds nothing: the transaction is abandoned either way.
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// fromMillis turns a stored unix millisecond timestamp into a UTC time.
func fromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}

// RecordTriggerEvent keeps what an automatic trigger did; see TriggerLog.
func (s *SQLite) RecordTriggerEvent(ctx context.Context, ev TriggerEvent) error {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO trigger_events
			(application, pipeline, kind, source, delivery_id, outcome, execution, reason, at_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.Application, ev.Pipeline, ev.Kind, ev.Source, ev.DeliveryID, ev.Outcome, ev.ExecutionID, ev.Reason, ev.At.UnixMilli()); err != nil {
			return fmt.Errorf("recording a trigger event: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM trigger_events WHERE application = ? AND id <= (
			SELECT id FROM trigger_events WHERE application = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
			ev.Application, ev.Application, maxTriggerEvents); err != nil {
			return fmt.Errorf("trimming trigger events: %w", err)
		}
		return nil
	})
}

// TriggerEvents lists an application's trigger events, newest first; see TriggerLog.
func (s *SQLite) TriggerEvents(ctx context.Context, app string, limit int) ([]TriggerEvent, error) {
	if limit <= 0 || limit > maxTriggerEvents {
		limit = maxTriggerEvents
	}
	rows, err := s.db.QueryContext(ctx, `SELECT application, pipeline, kind, source, delivery_id, outcome, execution, reason, at_ms
		FROM trigger_events WHERE application = ? ORDER BY id DESC LIMIT ?`, app, limit)
	if err != nil {
		return nil, fmt.Errorf("reading trigger events of %s: %w", app, err)
	}
	defer rows.Close()
	out := []TriggerEvent{}
	for rows.Next() {
		var ev TriggerEvent
		var atMs int64
		if err := rows.Scan(&ev.Application, &ev.Pipeline, &ev.Kind, &ev.Source, &ev.DeliveryID, &ev.Outcome, &ev.ExecutionID, &ev.Reason, &atMs); err != nil {
			return nil, fmt.Errorf("reading trigger events of %s: %w", app, err)
		}
		ev.At = time.UnixMilli(atMs).UTC()
		out = append(out, ev)
	}
	return out, rows.Err()
}
