// Package store keeps pipeline configs and every version of them. Configs are kept as the JSON text
// they were saved with, so fields gennaker does not model survive untouched. SQLite is the default
// backend; others implement the same Store interface.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// Expected conditions callers branch on; wrapped errors carry the application and pipeline name.
var (
	// ErrNotFound means no pipeline exists with the given application and name, or the given id.
	ErrNotFound = errors.New("pipeline not found")
	// ErrVersionNotFound means the pipeline exists but has no version with the given number.
	ErrVersionNotFound = errors.New("pipeline version not found")
	// ErrInvalidConfig means a config cannot be saved: it is not a JSON object, it names another
	// application or pipeline than the one it is saved under, or the application or name is empty.
	ErrInvalidConfig = errors.New("invalid pipeline config")
	// ErrIDTaken means a config names an id that belongs to another pipeline, or that differs from
	// the id of the pipeline it is saved as.
	ErrIDTaken = errors.New("pipeline id conflict")
)

// Record is one saved version of a pipeline config.
type Record struct {
	// ID is the pipeline's id, given or assigned on its first save and kept by every later version.
	ID          string
	Application string
	Name        string
	// Version counts saves of this pipeline from 1.
	Version int
	// Config is the pipeline JSON as saved, with its id, application and name fields set.
	Config  json.RawMessage
	SavedBy string
	// SavedAt is in UTC, to the millisecond.
	SavedAt time.Time
}

// Version describes one entry of a pipeline's history without its config.
type Version struct {
	Version int
	SavedBy string
	SavedAt time.Time
}

// Reader looks up the latest version of pipelines.
type Reader interface {
	// Get returns the latest version of a pipeline, or ErrNotFound.
	Get(ctx context.Context, app, name string) (Record, error)
	// GetByID returns the latest version of the pipeline with the given id, or ErrNotFound.
	GetByID(ctx context.Context, id string) (Record, error)
	// List returns the latest version of each pipeline of an application, ordered by name.
	List(ctx context.Context, app string) ([]Record, error)
	// Applications returns the sorted names of applications that have at least one pipeline.
	Applications(ctx context.Context) ([]string, error)
	TriggerIndex
}

// TriggerIndex finds the pipelines that automatic triggers of a kind may start; every Reader is one.
type TriggerIndex interface {
	// WithTrigger returns the latest version of every pipeline, of every application, that has a
	// trigger of kind (enabled or not), ordered by application and name.
	WithTrigger(ctx context.Context, kind string) ([]Record, error)
}

// Writer saves and deletes pipelines.
type Writer interface {
	// Save stores cfg, already validated pipeline JSON, as a new version of the pipeline, creating
	// it on the first save with the id cfg gives (as Front50 does) or a new one. An id that belongs to
	// another pipeline, or that differs from the pipeline's own, is ErrIDTaken. Every call makes a new version, even when cfg equals
	// the latest one. The id, application and name fields of the stored JSON are set to the
	// pipeline's; a config naming another application or pipeline is ErrInvalidConfig.
	Save(ctx context.Context, cfg json.RawMessage, app, name, user string) (Record, error)
	// Delete removes a pipeline and its whole history, or returns ErrNotFound.
	Delete(ctx context.Context, app, name, user string) error
}

// History reads and brings back earlier versions of a pipeline.
type History interface {
	// Versions lists a pipeline's versions, newest first, or returns ErrNotFound.
	Versions(ctx context.Context, app, name string) ([]Version, error)
	// GetVersion returns one version of a pipeline: ErrNotFound when the pipeline does not
	// exist, ErrVersionNotFound when it has no such version.
	GetVersion(ctx context.Context, app, name string, version int) (Record, error)
	// Restore saves the config of an earlier version as the pipeline's new latest version.
	Restore(ctx context.Context, app, name string, version int, user string) (Record, error)
}

// Store is where pipeline configs and their versions live, with what their triggers did and the
// canary configs their canary stages use.
type Store interface {
	Reader
	Writer
	History
	TriggerLog
	CanaryConfigs
	io.Closer
}

// TriggerLog keeps what automatic triggers did: what they started, and why they started nothing
// (a disabled pipeline, rejected parameters), so that a delivery that started nothing is not lost
// without a word.
type TriggerLog interface {
	RecordTriggerEvent(ctx context.Context, ev TriggerEvent) error
	// TriggerEvents lists an application's events, newest first, at most limit (0: all kept).
	TriggerEvents(ctx context.Context, app string, limit int) ([]TriggerEvent, error)
}

// Trigger event outcomes.
const (
	TriggerStarted   = "started"
	TriggerDuplicate = "duplicate"
	TriggerDisabled  = "disabled"
	TriggerRejected  = "rejected"
)

// TriggerEvent is one automatic trigger's effect on one pipeline.
type TriggerEvent struct {
	Application string    `json:"application"`
	Pipeline    string    `json:"pipeline"`
	Kind        string    `json:"type"`
	Source      string    `json:"source"`
	DeliveryID  string    `json:"deliveryId"`
	Outcome     string    `json:"outcome"`
	ExecutionID string    `json:"executionId,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

// ErrCanaryConfigNotFound means an application has no canary config with the given name.
var ErrCanaryConfigNotFound = errors.New("canary config not found")

// CanaryConfigRecord is one saved version of a canary config (Kayenta's format).
type CanaryConfigRecord struct {
	Application string
	Name        string
	// Version counts saves of this config from 1; it starts again at 1 after a delete.
	Version int
	// Config is the canary config JSON as saved.
	Config  json.RawMessage
	SavedBy string
	// SavedAt is in UTC, to the millisecond.
	SavedAt time.Time
}

// CanaryConfigs keeps the canary configs of each application, by name, with a version per save.
type CanaryConfigs interface {
	// SaveCanaryConfig stores cfg, already validated JSON, as the config's next version; every
	// call makes a new version.
	SaveCanaryConfig(ctx context.Context, app, name string, cfg json.RawMessage, user string) (CanaryConfigRecord, error)
	// GetCanaryConfig returns the latest version of a config, or ErrCanaryConfigNotFound.
	GetCanaryConfig(ctx context.Context, app, name string) (CanaryConfigRecord, error)
	// ListCanaryConfigs returns the latest version of each config of an application, by name.
	ListCanaryConfigs(ctx context.Context, app string) ([]CanaryConfigRecord, error)
	// DeleteCanaryConfig removes every version of a config, or returns ErrCanaryConfigNotFound.
	DeleteCanaryConfig(ctx context.Context, app, name string) error
}
