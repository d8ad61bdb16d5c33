package launch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/workflows"
)

// CatchupWindow is how far back a schedule catches up after an outage: short, so a long outage
// does not replay a burst of deploys when Temporal comes back.
const CatchupWindow = time.Minute

// Schedules keeps a pipeline's cron triggers in step with Temporal Schedules.
type Schedules struct {
	Client    client.Client
	TaskQueue string
}

// ScheduleID names the schedule of one cron trigger of a pipeline.
func ScheduleID(app, name, triggerKey string) string {
	return "gennaker-cron:" + app + ":" + name + ":" + triggerKey
}

func schedulePrefix(app, name string) string { return ScheduleID(app, name, "") }

// triggerKey identifies a trigger across saves: its id when it has one, else its position.
func triggerKey(t pipeline.Trigger, index int) string {
	if t.ID != "" {
		return t.ID
	}
	return strconv.Itoa(index)
}

// Sync creates, updates, pauses and deletes the pipeline's schedules so that there is exactly one
// per cron trigger, paused when the trigger or the pipeline is disabled. previous is the version
// being replaced, if any: schedule listings lag behind writes, so its schedules are named directly.
func (s *Schedules) Sync(ctx context.Context, p pipeline.Pipeline, previous *pipeline.Pipeline) error {
	wanted := map[string]client.ScheduleOptions{}
	for i, t := range p.Triggers {
		if t.Type != "cron" {
			continue
		}
		spec, err := pipeline.CronSpec(t.CronExpression, t.TimeZone)
		if err != nil {
			return fmt.Errorf("triggers[%d].cronExpression: %w", i, err)
		}
		key := triggerKey(t, i)
		id := ScheduleID(p.Application, p.Name, key)
		wanted[id] = client.ScheduleOptions{
			ID:   id,
			Spec: client.ScheduleSpec{CronExpressions: []string{spec}},
			Action: &client.ScheduleWorkflowAction{
				ID:        "cron-" + p.Application + "-" + p.Name + "-" + key,
				Workflow:  workflows.CronTrigger,
				Args:      []any{workflows.CronTriggerInput{Application: p.Application, Pipeline: p.Name, TriggerID: key, Expression: t.CronExpression}},
				TaskQueue: s.TaskQueue,
			},
			Overlap:       enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
			CatchupWindow: CatchupWindow,
			Paused:        p.Disabled || !t.IsEnabled(),
			Note:          pauseNote(p, t),
			Memo:          map[string]any{"application": p.Application, "pipeline": p.Name},
		}
	}

	existing, err := s.list(ctx, p.Application, p.Name)
	if err != nil {
		return err
	}
	if previous != nil {
		for i, t := range previous.Triggers {
			if t.Type == "cron" {
				existing[ScheduleID(p.Application, p.Name, triggerKey(t, i))] = true
			}
		}
	}
	for id := range existing {
		if _, keep := wanted[id]; !keep {
			if err := s.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting schedule %s: %w", id, err)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(wanted)) {
		opts := wanted[id]
		if existing[id] {
			err := s.update(ctx, opts)
			if err == nil {
				continue
			}
			if !isNotFound(err) {
				return err
			}
		}
		if _, err := s.Client.ScheduleClient().Create(ctx, opts); err != nil {
			if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
				return fmt.Errorf("creating schedule %s: %w", id, err)
			}
			// Created by an earlier save that the listing does not show yet.
			if err := s.update(ctx, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteAll removes every schedule of a pipeline; used when the pipeline is deleted. previous is
// its last saved version, if known: schedule listings lag behind writes, so its schedules are named
// directly.
func (s *Schedules) DeleteAll(ctx context.Context, app, name string, previous *pipeline.Pipeline) error {
	existing, err := s.list(ctx, app, name)
	if err != nil {
		return err
	}
	if previous != nil {
		for i, t := range previous.Triggers {
			if t.Type == "cron" {
				existing[ScheduleID(app, name, triggerKey(t, i))] = true
			}
		}
	}
	for id := range existing {
		if err := s.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx); err != nil && !isNotFound(err) {
			return fmt.Errorf("deleting schedule %s: %w", id, err)
		}
	}
	return nil
}

// Describe returns the schedules of a pipeline with their next run times, for the API.
func (s *Schedules) Describe(ctx context.Context, app, name string) ([]ScheduleInfo, error) {
	existing, err := s.list(ctx, app, name)
	if err != nil {
		return nil, err
	}
	var out []ScheduleInfo
	for _, id := range slices.Sorted(maps.Keys(existing)) {
		desc, err := s.Client.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("describing schedule %s: %w", id, err)
		}
		info := ScheduleInfo{ID: id, Paused: desc.Schedule.State.Paused, CronExpressions: cronExpressions(desc)}
		info.NextRuns = desc.Info.NextActionTimes
		out = append(out, info)
	}
	return out, nil
}

// ScheduleInfo is a cron trigger's schedule as Temporal has it.
type ScheduleInfo struct {
	ID              string      `json:"id"`
	Paused          bool        `json:"paused"`
	CronExpressions []string    `json:"cronExpressions,omitempty"`
	NextRuns        []time.Time `json:"nextRuns,omitempty"`
}

// cronExpressions is the expression the trigger was written with. Temporal keeps a cron spec as
// calendars and describes it that way, so the expression is read back from the action's input.
func cronExpressions(desc *client.ScheduleDescription) []string {
	if action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); ok && len(action.Args) > 0 {
		if p, ok := action.Args[0].(*commonpb.Payload); ok {
			var in workflows.CronTriggerInput
			if err := converter.GetDefaultDataConverter().FromPayload(p, &in); err == nil && in.Expression != "" {
				return []string{in.Expression}
			}
		}
	}
	if desc.Schedule.Spec != nil {
		return desc.Schedule.Spec.CronExpressions
	}
	return nil
}

func (s *Schedules) update(ctx context.Context, opts client.ScheduleOptions) error {
	h := s.Client.ScheduleClient().GetHandle(ctx, opts.ID)
	err := h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sched := in.Description.Schedule
			sched.Spec = &opts.Spec
			sched.Action = opts.Action
			if sched.Policy == nil {
				sched.Policy = &client.SchedulePolicies{}
			}
			sched.Policy.Overlap = opts.Overlap
			sched.Policy.CatchupWindow = opts.CatchupWindow
			if sched.State == nil {
				sched.State = &client.ScheduleState{}
			}
			sched.State.Paused = opts.Paused
			sched.State.Note = opts.Note
			return &client.ScheduleUpdate{Schedule: &sched}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("updating schedule %s: %w", opts.ID, err)
	}
	return nil
}

// list finds the pipeline's schedules by their ID prefix.
func (s *Schedules) list(ctx context.Context, app, name string) (map[string]bool, error) {
	iter, err := s.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 500})
	if err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	prefix := schedulePrefix(app, name)
	found := map[string]bool{}
	for iter.HasNext() {
		entry, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("listing schedules: %w", err)
		}
		if strings.HasPrefix(entry.ID, prefix) {
			found[entry.ID] = true
		}
	}
	return found, nil
}

func pauseNote(p pipeline.Pipeline, t pipeline.Trigger) string {
	switch {
	case p.Disabled:
		return "paused: the pipeline is disabled"
	case !t.IsEnabled():
		return "paused: the trigger is disabled"
	}
	return ""
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
