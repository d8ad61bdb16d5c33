// Package metrics is what a canary analysis asks of a metric store: the raw series of one metric for
// one scope (the baseline or the canary) over one interval. Judging those series is done elsewhere;
// each store has its own package behind Source.
package metrics

import (
	"context"
	"errors"
	"time"
)

// ErrBadQuery marks an error that retrying cannot fix: the query is malformed, names a placeholder
// nobody bound, or the store refused to run it. The canary stage fails with the message instead of
// retrying; every other Fetch error is presumed transient (unreachable store, overload, timeout).
var ErrBadQuery = errors.New("bad metric query")

// ErrRefused marks a store turning the caller away (HTTP 401 or 403): wrong or missing credentials,
// which a person has to fix; asking again would only be turned away again.
var ErrRefused = errors.New("the metric store refused the credentials")

// DefaultStep is the resolution used when a Scope leaves Step zero; it matches Kayenta's default.
const DefaultStep = 60 * time.Second

// Source fetches raw metric series for one scope; judging is done elsewhere. Fetch's errors show
// what was asked of the store, and leave naming the metric and the scope to the caller;
// ErrBadQuery and ErrRefused mark those that asking again cannot fix.
type Source interface {
	Fetch(ctx context.Context, q Query, s Scope) (Result, error)
}

// Query is one canary metric as the canary config states it, independent of the scope it runs for.
type Query struct {
	// Metric is the canary config's name for the metric.
	Metric string
	// Template is a complete query in the store's language with ${scope}, ${location} and
	// ${<extended param>} placeholders (see Expand); Kayenta's "PromQL:" prefix is tolerated.
	Template string
	// MetricName is used when Template is empty: the store builds a selector of this metric
	// restricted to the scope and Filter.
	MetricName string
	// Filter holds extra label matchers for the MetricName form (Kayenta's customFilterTemplate,
	// already looked up); its placeholders are expanded like a Template's.
	Filter string
}

// Scope says which deployment and which interval a Query is run for.
type Scope struct {
	// Scope selects the deployment, e.g. the label matchers app="web",track="canary"; substituted
	// as ${scope}.
	Scope string
	// Location is a region, namespace or the like; substituted as ${location}.
	Location string
	// Start and End bound the interval; both are included when they fall on the step grid.
	Start, End time.Time
	// Step is the distance between points; DefaultStep when zero.
	Step time.Duration
	// Extended holds Kayenta's extendedScopeParams, substituted as ${key}; they win over scope and
	// location of the same name, as in Kayenta.
	Extended map[string]string
}

// Series is one time series the query returned.
type Series struct {
	// Labels identify the series as the store returned them.
	Labels map[string]string
	// Values holds one value per step of Result's grid; NaN where the store had no sample.
	Values []float64
}

// Result is what a Fetch found; no series at all is a valid answer (no data), for the judge to weigh.
type Result struct {
	// Query is the resolved query actually sent, so a report can show what was measured.
	Query string
	// Start and Step define the grid of every series' Values: Values[i] is at Start + i*Step.
	Start time.Time
	Step  time.Duration
	// Series is every series returned, in the store's order.
	Series []Series
}
