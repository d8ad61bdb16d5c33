package pipeline

import (
	"maps"
	"slices"
	"strings"
)

// NotificationSlack is the notification type gennaker sends; Spinnaker's others (email, SMS, …)
// are refused at save time rather than silently never sent.
const NotificationSlack = "slack"

// NotificationTypes lists the notification types gennaker can send.
var NotificationTypes = []string{NotificationSlack}

// Notification points, with Spinnaker's names.
const (
	PointPipelineStarting       = "pipeline.starting"
	PointPipelineComplete       = "pipeline.complete"
	PointPipelineFailed         = "pipeline.failed"
	PointStageStarting          = "stage.starting"
	PointStageComplete          = "stage.complete"
	PointStageFailed            = "stage.failed"
	PointManualJudgment         = "manualJudgment"
	PointManualJudgmentContinue = "manualJudgmentContinue"
	PointManualJudgmentStop     = "manualJudgmentStop"
)

// PipelinePoints are the points a pipeline's (or an application's) notifications may name.
var PipelinePoints = []string{PointPipelineStarting, PointPipelineComplete, PointPipelineFailed}

// StagePoints are the points a stage's notifications may name.
var StagePoints = []string{PointStageStarting, PointStageComplete, PointStageFailed}

// JudgmentPoints are the extra points a manual judgment stage's notifications may name.
var JudgmentPoints = []string{PointManualJudgment, PointManualJudgmentContinue, PointManualJudgmentStop}

// MinNotifyEveryMs is the shortest reminder period of a manual judgment notification, so reminders
// cannot flood a channel or the execution's history.
const MinNotifyEveryMs = 1000

// NotificationSpec is a notification setting as a sender reads it.
type NotificationSpec struct {
	Type string
	// Address is the channel; empty means the application's default channel.
	Address string
	When    []string
	// Messages are the custom texts by point (message.<point>.text), expressions not yet evaluated.
	Messages map[string]string
	// NotifyEveryMs re-posts a waiting manual judgment this often; 0 means never.
	NotifyEveryMs int64
}

// Spec reads a notification setting; what validation refuses reads as empty.
func (n Notification) Spec() NotificationSpec {
	s := NotificationSpec{Messages: map[string]string{}}
	s.Type, _ = n["type"].(string)
	s.Address, _ = n["address"].(string)
	if when, ok := n["when"].([]any); ok {
		for _, w := range when {
			if text, ok := w.(string); ok {
				s.When = append(s.When, text)
			}
		}
	}
	if msgs, ok := n["message"].(map[string]any); ok {
		for point, m := range msgs {
			if obj, ok := m.(map[string]any); ok {
				if text, ok := obj["text"].(string); ok && strings.TrimSpace(text) != "" {
					s.Messages[point] = text
				}
			}
		}
	}
	if every, ok := wholeNumber(n["notifyEveryMs"]); ok && every > 0 {
		s.NotifyEveryMs = every
	}
	return s
}

// Sends reports whether the setting sends at a point.
func (s NotificationSpec) Sends(point string) bool { return slices.Contains(s.When, point) }

// StageNotifications are a stage's notification settings, or none when sendNotifications is false.
func StageNotifications(stageContext map[string]any) []Notification {
	if send, ok := stageContext["sendNotifications"].(bool); ok && !send {
		return nil
	}
	list, _ := stageContext["notifications"].([]any)
	out := make([]Notification, 0, len(list))
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, Notification(m))
		}
	}
	return out
}

// ValidateNotifications checks notification settings at path, allowing the given points. types
// are the notification types this gennaker is configured to send; nil skips that check.
func ValidateNotifications(list []Notification, path string, points []string, types []string) []Problem {
	var ps problems
	for i, n := range list {
		validateNotification(map[string]any(n), joinIndex(path, i), points, types, &ps)
	}
	return ps
}

func validateNotification(n map[string]any, path string, points, types []string, ps *problems) {
	f := newFields(n, path, ps)
	switch t := f.requiredString("type"); {
	case t == "":
	case !slices.Contains(NotificationTypes, t):
		ps.add(f.at("type"), "unknown notification type %q; supported types: %s", t, strings.Join(NotificationTypes, ", "))
	case types != nil && !slices.Contains(types, t):
		ps.add(f.at("type"), "%s notifications are not configured on this gennaker (set --slack-bot-token)", t)
	}
	f.optionalString("address")
	when, _ := f.list("when", true)
	for i, w := range when {
		text, ok := w.(string)
		if !ok || !slices.Contains(points, text) {
			ps.add(joinIndex(f.at("when"), i), "%q is not a notification point here; use one of %s", stringify(w), strings.Join(points, ", "))
		}
	}
	if msgs, ok := f.optionalObject("message"); ok {
		for _, point := range slices.Sorted(maps.Keys(msgs)) {
			m := msgs[point]
			mpath := joinKey(f.at("message"), point)
			if !slices.Contains(points, point) {
				ps.add(mpath, "%q is not a notification point here; use one of %s", point, strings.Join(points, ", "))
				continue
			}
			obj, isObj := m.(map[string]any)
			if !isObj {
				ps.add(mpath, "must be an object with a text")
				continue
			}
			newFields(obj, mpath, ps).optionalString("text")
		}
	}
	if v, ok := f.get("notifyEveryMs"); ok {
		every, whole := wholeNumber(v)
		switch {
		case !whole:
			ps.add(f.at("notifyEveryMs"), "must be a whole number of milliseconds")
		case !slices.Contains(points, PointManualJudgment) && every > 0:
			ps.add(f.at("notifyEveryMs"), "only manual judgment notifications repeat")
		case every > 0 && every < MinNotifyEveryMs:
			ps.add(f.at("notifyEveryMs"), "must be at least %d (or -1 for never)", MinNotifyEveryMs)
		}
	}
}

// validateStageNotifications checks a stage's notifications and sendNotifications.
func validateStageNotifications(s Stage, path string, types []string, ps *problems) {
	f := newFields(s.Context, path, ps)
	f.optionalBool("sendNotifications")
	list, ok := f.list("notifications", false)
	if !ok {
		return
	}
	points := StagePoints
	if s.Type == StageManualJudgment {
		points = append(slices.Clone(StagePoints), JudgmentPoints...)
	}
	for i, item := range list {
		m, isObj := item.(map[string]any)
		if !isObj {
			ps.add(joinIndex(f.at("notifications"), i), "must be an object")
			continue
		}
		validateNotification(m, joinIndex(f.at("notifications"), i), points, types, ps)
	}
}
