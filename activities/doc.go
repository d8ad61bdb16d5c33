// Package activities holds gennaker's Temporal activities: thin, idempotent steps that talk to the outside world.
package activities
