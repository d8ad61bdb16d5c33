// Package bench measures what gennaker costs on top of Temporal. Each benchmark runs the same
// pipeline both ways on one embedded Temporal server and one worker: as gennaker's Pipeline
// workflow with webhook stages, and as the floor, a plain Temporal workflow running the same HTTP
// call as an activity in the same shape. Results are ratios of the two measured in the same run,
// so the machine's speed cancels out; `make bench` prints them as a table.
//
// The server runs with two dispatch throttles of the stock dev server turned off (serverTuning),
// because they would make up most of the floor; -stockserver runs it as shipped.
//
// The package has no tests: without -bench, `go test` starts nothing.
package bench
