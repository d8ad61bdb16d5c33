// Package sources turns a canary config's metric source type into the metrics.Source that serves
// it, so the canary stage depends on no store in particular.
package sources

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gennaker/gennaker/canary/metrics"
	"github.com/gennaker/gennaker/canary/metrics/prometheus"
)

// TypePrometheus is the source type of Prometheus and servers speaking its HTTP API.
const TypePrometheus = "prometheus"

// ErrUnknownType marks a source type no package here serves; it is a config error, never retried.
var ErrUnknownType = errors.New("unknown metric source type")

// Config holds the configuration of every source type; New reads only the one it builds.
type Config struct {
	Prometheus prometheus.Config
}

// constructors maps each known type to its builder; adding a store means one line here.
var constructors = map[string]func(Config) (metrics.Source, error){
	TypePrometheus: func(cfg Config) (metrics.Source, error) { return prometheus.New(cfg.Prometheus) },
}

// New builds the source of sourceType from its part of cfg. An unknown type is an error naming the
// known ones: falling back to some default would measure a canary against the wrong store.
func New(sourceType string, cfg Config) (metrics.Source, error) {
	build, ok := constructors[sourceType]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownType, sourceType, strings.Join(Types(), ", "))
	}
	src, err := build(cfg)
	if err != nil {
		return nil, fmt.Errorf("metric source %s: %w", sourceType, err)
	}
	return src, nil
}

// Types lists the known source types, sorted, for validating canary configs before they run.
func Types() []string {
	types := make([]string, 0, len(constructors))
	for t := range constructors {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}
