// Package bench measures what gennaker costs on top of what it drives. Each benchmark does the same
// work as gennaker and as the floor, alternately, and reports ratios of the two measured in the
// same run, so the machine's speed cancels out; `make bench` prints them as tables.
//
// BenchmarkPipeline runs the same pipeline both ways on one embedded Temporal server and one
// worker: as gennaker's Pipeline workflow with webhook stages, and as the floor, a plain Temporal
// workflow running the same HTTP call as an activity in the same shape.
//
// BenchmarkKubernetes compares a deploy: a pipeline with one deployManifest stage (a ConfigMap and
// a two-replica Deployment, a new image each time) against its floor, kubectl apply and kubectl
// rollout status of the same objects, on one local Kubernetes control plane (internal/localkube)
// started for it. It also reports how long each side takes to its first write to the API server,
// and how long after the rollout completes each side says so, from a watch on the namespace.
// `make kube-tools` builds the control plane and kubectl; without them it is skipped. -kubepoll
// runs gennaker's rollout wait at another status polling interval, to see what the interval costs.
//
// BenchmarkAWS compares a red/black deploy stage (three instances behind one target group, on moto
// through a pass-through proxy) against its floor, the same AWS calls made one after the other with
// aws-sdk-go-v2: once as moto answers, in milliseconds, and once with 100 ms added to every call of
// both sides, as AWS's APIs answer. It also counts each side's AWS calls (gennaker's are more:
// describe-first creates, the new group's health read again right before traffic moves, the old
// group's read after it is disabled, the cluster read at the end) and the time from the stage's
// start to its first AWS call. Without moto_server it is skipped.
//
// The server runs with two dispatch throttles of the stock dev server turned off (serverTuning),
// because they would make up most of the floor; -stockserver runs it as shipped.
//
// The package has no tests: without -bench, `go test` starts nothing.
package bench
