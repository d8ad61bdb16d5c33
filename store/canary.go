package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

var _ CanaryConfigs = (*SQLite)(nil)

// canaryLatestQuery selects the latest version of canary configs, filtered by the condition
// appended to it; the primary key's index serves the MAX.
const canaryLatestQuery = `SELECT application, name, version, config, saved_by, saved_at_ms
	FROM canary_config_versions c
	WHERE version = (SELECT MAX(version) FROM canary_config_versions
		WHERE application = c.application AND name = c.name) `

// SaveCanaryConfig stores cfg as the config's next version; see CanaryConfigs.
func (s *SQLite) SaveCanaryConfig(ctx context.Context, app, name string, cfg json.RawMessage, user string) (CanaryConfigRecord, error) {
	if app == "" || name == "" {
		return CanaryConfigRecord{}, errors.New("saving canary config: application and name are required")
	}
	// The API hands back the stored text as JSON; text that is not would break every later read.
	if !json.Valid(cfg) {
		return CanaryConfigRecord{}, fmt.Errorf("saving canary config %s/%s: not valid JSON", app, name)
	}
	var rec CanaryConfigRecord
	// The transaction holds the write lock from its start, so no concurrent save can take the
	// version number read here before it is written.
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var latest int
		if err := tx.QueryRowContext(ctx,
			`SELECT COALESCE(MAX(version), 0) FROM canary_config_versions WHERE application = ? AND name = ?`,
			app, name).Scan(&latest); err != nil {
			return fmt.Errorf("reading latest version: %w", err)
		}
		version := latest + 1
		savedAt := time.Now().UnixMilli()
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO canary_config_versions (application, name, version, config, saved_by, saved_at_ms) VALUES (?, ?, ?, ?, ?, ?)`,
			app, name, version, string(cfg), user, savedAt); err != nil {
			return fmt.Errorf("storing version %d: %w", version, err)
		}
		rec = CanaryConfigRecord{
			Application: app,
			Name:        name,
			Version:     version,
			Config:      append(json.RawMessage(nil), cfg...),
			SavedBy:     user,
			SavedAt:     fromMillis(savedAt),
		}
		return nil
	})
	if err != nil {
		return CanaryConfigRecord{}, fmt.Errorf("saving canary config %s/%s: %w", app, name, err)
	}
	return rec, nil
}

// GetCanaryConfig returns the latest version of a config; see CanaryConfigs.
func (s *SQLite) GetCanaryConfig(ctx context.Context, app, name string) (CanaryConfigRecord, error) {
	rec, err := scanCanaryConfig(s.db.QueryRowContext(ctx,
		canaryLatestQuery+`AND application = ? AND name = ?`, app, name))
	if err != nil {
		return CanaryConfigRecord{}, fmt.Errorf("getting canary config %s/%s: %w", app, name, err)
	}
	return rec, nil
}

// ListCanaryConfigs returns the latest version of every config of app, by name; see CanaryConfigs.
func (s *SQLite) ListCanaryConfigs(ctx context.Context, app string) ([]CanaryConfigRecord, error) {
	rows, err := s.db.QueryContext(ctx, canaryLatestQuery+`AND application = ? ORDER BY name`, app)
	if err != nil {
		return nil, fmt.Errorf("listing canary configs of %s: %w", app, err)
	}
	defer rows.Close()
	records := []CanaryConfigRecord{}
	for rows.Next() {
		rec, err := scanCanaryConfig(rows)
		if err != nil {
			return nil, fmt.Errorf("listing canary configs of %s: %w", app, err)
		}
		records = append(records, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing canary configs of %s: %w", app, err)
	}
	return records, nil
}

// DeleteCanaryConfig removes every version of a config; see CanaryConfigs. Like pipelines, the
// SQLite store keeps no record of the deletion.
func (s *SQLite) DeleteCanaryConfig(ctx context.Context, app, name string) error {
	res, err := s.db.ExecContext(ctx,
		`DELETE FROM canary_config_versions WHERE application = ? AND name = ?`, app, name)
	if err != nil {
		return fmt.Errorf("deleting canary config %s/%s: %w", app, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("deleting canary config %s/%s: %w", app, name, err)
	}
	if n == 0 {
		return fmt.Errorf("deleting canary config %s/%s: %w", app, name, ErrCanaryConfigNotFound)
	}
	return nil
}

// scanCanaryConfig reads a row of canaryLatestQuery, turning no row into ErrCanaryConfigNotFound.
func scanCanaryConfig(row scanner) (CanaryConfigRecord, error) {
	var rec CanaryConfigRecord
	var config []byte
	var ms int64
	err := row.Scan(&rec.Application, &rec.Name, &rec.Version, &config, &rec.SavedBy, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return CanaryConfigRecord{}, ErrCanaryConfigNotFound
	}
	if err != nil {
		return CanaryConfigRecord{}, err
	}
	rec.Config = config
	rec.SavedAt = fromMillis(ms)
	return rec, nil
}
