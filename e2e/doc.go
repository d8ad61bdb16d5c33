// Package e2e holds gennaker's end-to-end tests: the real binary, started as `gennaker dev`, driven
// over HTTP the way a user drives it. It also holds the recorder of the workflow histories that
// workflows' replay tests run (go test ./e2e -run TestRecordHistories -record).
package e2e
