// Package awsfault is a test-only HTTP proxy in front of moto_server. It makes a bad day on AWS
// happen on demand (throttling, server errors, latency, a call that succeeds but whose answer is
// lost), records every call for tests that check the order of AWS calls, scripts the target health
// load balancers report, and makes moto answer as AWS does where moto does not and a deployer's
// correctness depends on it: a second Auto Scaling group of one name is refused with AlreadyExists
// (moto silently replaces the first), an image name used twice with InvalidAMIName.Duplicate, and
// sizes outside min and max with ValidationError; and it can make SSM commands fail, which moto
// always runs with success. It is named a fake where it is one: everything
// else is moto's answer.
package awsfault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proxy forwards AWS calls to moto, applying its rules.
type Proxy struct {
	// URL is the proxy's endpoint, to use as the AWS endpoint.
	URL    string
	target string
	srv    *httptest.Server
	client *http.Client

	mu     sync.Mutex
	rules  []Rule
	calls  []Call
	rng    *rand.Rand
	health TargetHealthFunc
	polls  map[string]int
	hook   func(Call)
	// commandFailure, when set, is the output of every SSM command that fails: moto reports
	// each one a success at once.
	commandFailure string
}

// Rule injects faults into the calls it matches.
type Rule struct {
	// Actions are the AWS actions it applies to; empty means every action. Mutating limits it to
	// actions that change something (not Describe…, List…, Get…).
	Actions  []string
	Mutating bool
	// Throttle and ServerError are the chances (0–1) that a matching call is answered with a
	// throttling error or a 503 without reaching moto; Drop the chance that it reaches moto and
	// the answer is lost (the caller sees a 503).
	Throttle, ServerError, Drop float64
	// Latency delays each matching call.
	Latency time.Duration
	// Times, when above 0, is how many faults the rule injects before it stops.
	Times int
}

// Call is one AWS call the proxy saw.
type Call struct {
	Service string
	Action  string
	// Params are the call's parameters, such as AutoScalingGroupName or Targets.member.1.Id.
	Params url.Values
	// Injected says which fault the proxy injected, if any: throttle, error, drop or a shim's
	// answer (AlreadyExists …).
	Injected string
	// Status is the HTTP status the caller got.
	Status int
	Time   time.Time
}

// TargetHealthFunc scripts target health: given the target group's ARN, the instance, how many
// times its health has been read (1 for the first) and the state moto reports, it returns the
// state, reason and description to report instead, or ok false to report moto's.
type TargetHealthFunc func(targetGroupARN, instance string, poll int, state string) (newState, reason, description string, ok bool)

// New starts a proxy to moto at target until Close. seed makes the injected faults repeatable.
func New(target string, seed uint64) *Proxy {
	p := &Proxy{target: strings.TrimRight(target, "/"), client: &http.Client{Timeout: time.Minute},
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), polls: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// SetRules replaces the fault rules.
func (p *Proxy) SetRules(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = rules
}

// SetTargetHealth scripts target health; nil reports moto's.
func (p *Proxy) SetTargetHealth(f TargetHealthFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.health, p.polls = f, map[string]int{}
}

// FailCommands makes every SSM Run Command invocation report that it failed with this output,
// as a provisioning script that fails does; "" reports moto's success again.
func (p *Proxy) FailCommands(output string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.commandFailure = output
}

// SetHook makes the proxy call hook with each call moto answered, after moto acted on it and
// before the caller gets the answer: a test can stop the caller right there, as a crash would.
func (p *Proxy) SetHook(hook func(Call)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hook = hook
}

// Calls returns the calls seen so far, in order.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// ResetCalls forgets the calls seen so far.
func (p *Proxy) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// scope reads the service and region from a request's signature: Credential=key/date/region/service/aws4_request.
var scope = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([^/]+)/([^/]+)/aws4_request`)

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	params, _ := url.ParseQuery(string(body))
	for k, v := range r.URL.Query() {
		params[k] = v
	}
	call := Call{Action: params.Get("Action"), Params: params, Time: time.Now()}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		// A JSON protocol (SSM): the action is named in a header.
		_, call.Action, _ = strings.Cut(target, ".")
	}
	if m := scope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		call.Service = m[2]
	}
	fault, latency := p.fault(call.Action)
	if latency > 0 {
		time.Sleep(latency)
	}
	var status int
	var respBody []byte
	var header http.Header
	switch {
	case fault == "throttle":
		status, respBody = throttled(call.Service)
	case fault == "error":
		status, respBody = unavailable(call.Service)
	default:
		if code, msg := p.shim(r, call); code != "" {
			call.Injected = code
			status, respBody = errorAnswer(call.Service, http.StatusBadRequest, code, msg)
			break
		}
		status, header, respBody = p.forward(r, body)
		p.mu.Lock()
		hook := p.hook
		p.mu.Unlock()
		if hook != nil {
			hook(call)
		}
		if fault == "drop" {
			status, respBody = unavailable(call.Service)
			header = nil
		} else if call.Action == "DescribeTargetHealth" && status == http.StatusOK {
			respBody = p.scriptHealth(params.Get("TargetGroupArn"), respBody)
		} else if call.Action == "GetCommandInvocation" && status == http.StatusOK {
			respBody = p.failCommand(respBody)
		}
	}
	if fault != "" {
		call.Injected = fault
	}
	call.Status = status
	p.mu.Lock()
	p.calls = append(p.calls, call)
	p.mu.Unlock()
	for k, v := range header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
}

// fault picks the fault a call gets, if any, and its latency.
func (p *Proxy) fault(action string) (string, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var latency time.Duration
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(action) {
			continue
		}
		latency += r.Latency
		if r.Times < 0 {
			continue
		}
		x := p.rng.Float64()
		var fault string
		switch {
		case x < r.Throttle:
			fault = "throttle"
		case x < r.Throttle+r.ServerError:
			fault = "error"
		case x < r.Throttle+r.ServerError+r.Drop:
			fault = "drop"
		}
		if fault == "" {
			continue
		}
		if r.Times > 0 {
			r.Times--
			if r.Times == 0 {
				r.Times = -1 // spent
			}
		}
		return fault, latency
	}
	return "", latency
}

func (r Rule) matches(action string) bool {
	if r.Mutating && (strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "List") || strings.HasPrefix(action, "Get")) {
		return false
	}
	if len(r.Actions) == 0 {
		return true
	}
	for _, a := range r.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// forward sends the request on to moto.
func (p *Proxy) forward(r *http.Request, body []byte) (int, http.Header, []byte) {
	req, err := http.NewRequest(r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, nil, []byte(err.Error())
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		return http.StatusBadGateway, nil, []byte(err.Error())
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// ask makes a call of the proxy's own to moto, signed (moto checks no signature) as r is, so that
// moto reads the same region.
func (p *Proxy) ask(r *http.Request, params url.Values) string {
	req, err := http.NewRequest(http.MethodPost, p.target+"/", strings.NewReader(params.Encode()))
	if err != nil {
		return ""
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set("X-Amz-Date", r.Header.Get("X-Amz-Date"))
	resp, err := p.client.Do(req)
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	return string(out)
}

// shim answers, as AWS would, the calls moto accepts where AWS refuses them.
func (p *Proxy) shim(r *http.Request, call Call) (code, msg string) {
	params := call.Params
	switch call.Action {
	case "CreateAutoScalingGroup":
		name := params.Get("AutoScalingGroupName")
		got := p.ask(r, url.Values{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2011-01-01"}, "AutoScalingGroupNames.member.1": {name}})
		if strings.Contains(got, "<AutoScalingGroupName>"+name+"</AutoScalingGroupName>") {
			return "AlreadyExists", fmt.Sprintf("AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
		}
	case "CreateImage":
		name := params.Get("Name")
		got := p.ask(r, url.Values{"Action": {"DescribeImages"}, "Version": {"2016-11-15"}, "Owner.1": {"self"},
			"Filter.1.Name": {"name"}, "Filter.1.Value.1": {name}})
		if strings.Contains(got, "<name>"+name+"</name>") {
			return "InvalidAMIName.Duplicate", fmt.Sprintf("AMI name %s is already in use by another AMI", name)
		}
	case "UpdateAutoScalingGroup", "SetDesiredCapacity":
		name := params.Get("AutoScalingGroupName")
		got := p.ask(r, url.Values{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2011-01-01"}, "AutoScalingGroupNames.member.1": {name}})
		size := func(param, tag string) int {
			if v := params.Get(param); v != "" {
				n, _ := strconv.Atoi(v)
				return n
			}
			m := regexp.MustCompile("<" + tag + ">([0-9]+)</" + tag + ">").FindStringSubmatch(got)
			if m == nil {
				return -1
			}
			n, _ := strconv.Atoi(m[1])
			return n
		}
		lo, desired, hi := size("MinSize", "MinSize"), size("DesiredCapacity", "DesiredCapacity"), size("MaxSize", "MaxSize")
		if lo >= 0 && hi >= 0 && desired >= 0 && (desired < lo || desired > hi || lo > hi) {
			return "ValidationError", fmt.Sprintf("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, lo, hi)
		}
	}
	return "", ""
}

// member is one target of a DescribeTargetHealth answer.
var (
	member      = regexp.MustCompile(`(?s)<member>.*?</TargetHealth>\s*</member>`)
	memberID    = regexp.MustCompile(`<Id>([^<]+)</Id>`)
	memberState = regexp.MustCompile(`<State>([^<]*)</State>`)
	healthBlock = regexp.MustCompile(`(?s)<TargetHealth>.*?</TargetHealth>`)
)

// scriptHealth rewrites a DescribeTargetHealth answer with the scripted health.
func (p *Proxy) scriptHealth(tg string, body []byte) []byte {
	p.mu.Lock()
	script := p.health
	p.mu.Unlock()
	if script == nil {
		return body
	}
	return member.ReplaceAllFunc(body, func(m []byte) []byte {
		id, state := memberID.FindSubmatch(m), memberState.FindSubmatch(m)
		if id == nil || state == nil {
			return m
		}
		key := tg + "/" + string(id[1])
		p.mu.Lock()
		p.polls[key]++
		poll := p.polls[key]
		p.mu.Unlock()
		newState, reason, desc, ok := script(tg, string(id[1]), poll, string(state[1]))
		if !ok {
			return m
		}
		var b strings.Builder
		b.WriteString("<TargetHealth><State>" + newState + "</State>")
		if reason != "" {
			b.WriteString("<Reason>" + reason + "</Reason>")
		}
		if desc != "" {
			b.WriteString("<Description>" + desc + "</Description>")
		}
		b.WriteString("</TargetHealth>")
		return healthBlock.ReplaceAll(m, []byte(b.String()))
	})
}

// StartingFor reports instances moto says are healthy as initial (Elb.RegistrationInProgress) for
// their first polls reads of each target group.
func StartingFor(polls int) TargetHealthFunc {
	return func(_, _ string, poll int, state string) (string, string, string, bool) {
		if state == "healthy" && poll <= polls {
			return "initial", "Elb.RegistrationInProgress", "Target registration is in progress", true
		}
		return "", "", "", false
	}
}

// Unhealthy reports the instances keep says so about as failing their health checks
// (Target.FailedHealthChecks) in every target group, for as long as moto says they are healthy.
func Unhealthy(keep func(instance string) bool) TargetHealthFunc {
	return func(_, instance string, _ int, state string) (string, string, string, bool) {
		if state == "healthy" && keep(instance) {
			return "unhealthy", "Target.FailedHealthChecks", "Health checks failed", true
		}
		return "", "", "", false
	}
}

// Errors as each AWS protocol writes them: EC2's own XML, and the query protocol's for the others.
func errorAnswer(service string, status int, code, msg string) (int, []byte) {
	if service == "ssm" {
		// A JSON protocol: the error's type names its code.
		return status, fmt.Appendf(nil, `{"__type": %q, "message": %q}`, code, msg)
	}
	if service == "ec2" {
		return status, fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>awsfault</RequestID></Response>`, code, msg)
	}
	kind := "Sender"
	if status >= 500 {
		kind = "Receiver"
	}
	return status, fmt.Appendf(nil, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>awsfault</RequestId></ErrorResponse>`, kind, code, msg)
}

func throttled(service string) (int, []byte) {
	if service == "ssm" {
		return errorAnswer(service, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	}
	if service == "ec2" {
		return errorAnswer(service, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
	}
	return errorAnswer(service, http.StatusBadRequest, "Throttling", "Rate exceeded")
}

func unavailable(service string) (int, []byte) {
	return errorAnswer(service, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable, injected by awsfault")
}

// failCommand rewrites a GetCommandInvocation answer as a failed command's, when commands fail.
func (p *Proxy) failCommand(body []byte) []byte {
	p.mu.Lock()
	output := p.commandFailure
	p.mu.Unlock()
	if output == "" {
		return body
	}
	var answer map[string]any
	if json.Unmarshal(body, &answer) != nil {
		return body
	}
	answer["Status"], answer["StatusDetails"], answer["ResponseCode"] = "Failed", "Failed", 1
	answer["StandardErrorContent"] = output
	out, err := json.Marshal(answer)
	if err != nil {
		return body
	}
	return out
}
