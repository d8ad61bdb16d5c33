package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

// versionNotifications marks executions that send notifications and publish events; executions
// started by an older release replay without either.
const versionNotifications = "notifications"

const (
	// notifyDrainTimeout bounds how long a finished execution waits for its last notifications.
	// A notification activity gives up within notifyScheduleToClose, so this is only a backstop.
	notifyDrainTimeout    = 3 * time.Minute
	notifyScheduleToClose = 2 * time.Minute
	// maxReminders bounds the reminders of one judgment message, and with them the history.
	maxReminders = 50
	// maxNotificationRecords bounds the records kept per execution and per stage.
	maxNotificationRecords = 100
)

// notifier sends an execution's notifications and publishes its status changes. Nothing it does
// can fail or hold up a stage: its work runs beside the execution, on a context no cancellation
// reaches, and the execution only waits for it, bounded, once it has finished.
type notifier struct {
	r   *interpreter
	on  bool
	ctx workflow.Context
	// appNotifications are the application's pipeline-level notifications.
	appNotifications []pipeline.Notification
	// events is the execution's event stream, nil when no endpoint is configured.
	events   workflow.ChildWorkflowFuture
	seq      int
	inFlight int
}

// setupNotifications reads the notification settings once and starts the event stream.
func (r *interpreter) setupNotifications() {
	// A disconnected context is no command, so executions of every version have one.
	n := &notifier{r: r}
	n.ctx, _ = workflow.NewDisconnectedContext(r.ctx)
	r.notifier = n
	if workflow.GetVersion(r.ctx, versionNotifications, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	n.on = true
	// An activity, not a local one: the result is recorded as any other, and replay tools need no
	// activity registered to read it.
	actx := workflow.WithActivityOptions(n.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var acts *activities.Notifications
	var settings activities.NotificationSettingsResult
	err := workflow.ExecuteActivity(actx, acts.NotificationSettings,
		activities.NotificationSettingsInput{Application: r.exec.Application}).Get(actx, &settings)
	if err != nil {
		r.note(fmt.Sprintf("the application's notifications and event endpoints could not be read: %s", describeError(err)))
		return
	}
	n.appNotifications = settings.Notifications
	if !settings.PublishEvents {
		return
	}
	// Recorded, so that a replay under another workflow ID (replay tools use their own) issues
	// the same command.
	var streamID string
	if err := workflow.SideEffect(n.ctx, func(workflow.Context) any { return EventStreamID(r.exec.ID) }).Get(&streamID); err != nil {
		r.note(fmt.Sprintf("the event stream could not be named, no events will be published: %v", err))
		return
	}
	cctx := workflow.WithChildOptions(n.ctx, workflow.ChildWorkflowOptions{
		WorkflowID: streamID,
		// The stream outlives the execution until every event is delivered.
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     "events of execution " + r.exec.ID,
	})
	child := workflow.ExecuteChildWorkflow(cctx, EventStream, EventStreamInput{ExecutionID: r.exec.ID})
	if err := child.GetChildWorkflowExecution().Get(cctx, nil); err != nil {
		r.note(fmt.Sprintf("the event stream could not be started, no events will be published: %s", describeError(err)))
		return
	}
	n.events = child
}

// EventStreamID is the workflow ID of an execution's event stream.
func EventStreamID(executionID string) string { return executionID + "-events" }

// publish sends one status change to the event stream.
func (n *notifier) publish(ev notify.Event) {
	if n.events == nil {
		return
	}
	n.seq++
	r := n.r
	ev.ID = fmt.Sprintf("%s-%d", r.exec.ID, n.seq)
	ev.Sequence = n.seq
	ev.ExecutionID = r.exec.ID
	ev.Application = r.exec.Application
	ev.Pipeline = r.exec.Name
	ev.Time = r.now()
	// The signal is a command of this workflow task; it goes out even if the execution ends now.
	n.events.SignalChildWorkflow(n.ctx, SignalEvent, ev)
}

// executionChanged publishes the execution's status and sends its notifications.
func (n *notifier) executionChanged() {
	r := n.r
	user := r.exec.Trigger.User
	reason := ""
	if r.exec.Status.Complete() && r.exec.Status != pipeline.StatusSucceeded {
		reason = r.failureSummary()
	}
	if r.exec.Status == pipeline.StatusCanceled {
		user = r.exec.CanceledBy
	}
	n.publish(notify.Event{Type: notify.EventExecution, Status: string(r.exec.Status), User: user, Reason: reason})
	point := ""
	switch r.exec.Status {
	case pipeline.StatusRunning:
		point = pipeline.PointPipelineStarting
	case pipeline.StatusSucceeded:
		point = pipeline.PointPipelineComplete
	case pipeline.StatusTerminal, pipeline.StatusCanceled:
		point = pipeline.PointPipelineFailed
	default:
		return
	}
	notifications := append(append([]pipeline.Notification(nil), r.in.Pipeline.Notifications...), n.appNotifications...)
	n.send(point, notifications, nil, reason)
}

// stageChanged publishes a stage's status.
func (n *notifier) stageChanged(st *stageRun) {
	user := ""
	if st.view.Judgment != nil {
		user = st.view.Judgment.User
	}
	n.publish(notify.Event{
		Type: notify.EventStage, StageRefID: st.cfg.RefID, StageName: st.view.Name, StageType: st.cfg.Type,
		Status: string(st.view.Status), User: user, Reason: st.view.Error,
	})
}

// stageStarting sends a stage's stage.starting notifications, once it is known to run.
func (n *notifier) stageStarting(st *stageRun) {
	n.send(pipeline.PointStageStarting, pipeline.StageNotifications(st.cfg.Context), st, "")
}

// stageEnded publishes a stage's final status and sends its notifications.
func (n *notifier) stageEnded(st *stageRun) {
	n.stageChanged(st)
	switch st.view.Status {
	case pipeline.StatusSucceeded:
		n.send(pipeline.PointStageComplete, pipeline.StageNotifications(st.cfg.Context), st, "")
	case pipeline.StatusTerminal, pipeline.StatusFailedContinue, pipeline.StatusStopped, pipeline.StatusCanceled:
		n.send(pipeline.PointStageFailed, pipeline.StageNotifications(st.cfg.Context), st, st.view.Error)
	}
}

// drain waits, bounded, for notifications still being sent.
func (n *notifier) drain() {
	if n.inFlight == 0 {
		return
	}
	ok, _ := workflow.AwaitWithTimeout(n.ctx, notifyDrainTimeout, func() bool { return n.inFlight == 0 })
	if !ok {
		n.r.note(fmt.Sprintf("%d notifications were still being sent when the execution ended", n.inFlight))
	}
}

// subject describes the execution, or one of its stages, for a notification.
func (n *notifier) subject(point string, st *stageRun, reason string) notify.Subject {
	r := n.r
	s := notify.Subject{
		Point:       notify.Point(point),
		ExecutionID: r.exec.ID,
		Application: r.exec.Application,
		Pipeline:    r.exec.Name,
		TriggerType: r.exec.Trigger.Type,
		TriggerUser: r.exec.Trigger.User,
		Status:      string(r.exec.Status),
		Reason:      reason,
	}
	if st != nil {
		s.Status = string(st.view.Status)
		s.Stage = &notify.StageSubject{RefID: st.cfg.RefID, Name: st.view.Name, Type: st.cfg.Type, Status: string(st.view.Status)}
	}
	return s
}

// evaluated is a notification's address and its text for a point, expressions evaluated.
func (n *notifier) evaluated(spec pipeline.NotificationSpec, point string, st *stageRun) (address, text string) {
	env := n.r.exprEnv()
	if st != nil {
		env = n.r.stageEnv(st)
	}
	eval := func(s string) string {
		if s == "" {
			return ""
		}
		v, problems := pipeline.EvaluateValue(s, env)
		if len(problems) > 0 {
			n.r.note(fmt.Sprintf("notification %s: %q could not be evaluated: %s", point, s, problems[0].Reason))
			return s
		}
		return fmt.Sprint(v)
	}
	return eval(spec.Address), eval(spec.Messages[point])
}

// send sends every notification that asks for point, each on its own.
func (n *notifier) send(point string, notifications []pipeline.Notification, st *stageRun, reason string) {
	if !n.on {
		return
	}
	for _, nt := range notifications {
		spec := nt.Spec()
		if !spec.Sends(point) {
			continue
		}
		subject := n.subject(point, st, reason)
		address, text := n.evaluated(spec, point, st)
		subject.Text = text
		in := activities.SendNotificationInput{Type: spec.Type, Address: address, Subject: subject}
		n.inFlight++
		workflow.Go(n.ctx, func(ctx workflow.Context) {
			defer func() { n.inFlight-- }()
			var acts *activities.Notifications
			var res activities.SendNotificationResult
			err := workflow.ExecuteActivity(notifyActivityContext(ctx), acts.SendNotification, in).Get(ctx, &res)
			if res.Address == "" {
				res.Address = address
			}
			n.record(st, point, spec.Type, res.Address, err)
		})
	}
}

// record keeps what became of a notification in the execution, and says so when it failed.
func (n *notifier) record(st *stageRun, point, kind, address string, err error) {
	rec := pipeline.NotificationRecord{When: point, Type: kind, Address: address, Time: n.r.now()}
	if err != nil {
		rec.Error = describeError(err)
		where := "pipeline"
		if st != nil {
			where = fmt.Sprintf("stage %q", st.view.Name)
		}
		n.r.note(fmt.Sprintf("%s notification %s to %s could not be sent: %s", where, point, address, rec.Error))
	}
	list := &n.r.exec.Notifications
	if st != nil {
		list = &st.view.Notifications
	}
	if len(*list) < maxNotificationRecords {
		*list = append(*list, rec)
	}
}

func notifyActivityContext(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: notifyScheduleToClose,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
		},
	})
}

// judgmentMessages are the Slack messages asking for one manual judgment.
type judgmentMessages struct {
	n   *notifier
	st  *stageRun
	req notify.JudgmentRequest
	// posted are the messages posted so far; over is set once the judgment ended.
	posted         []notify.MessageRef
	over           bool
	decision       notify.Decision
	remindersCtx   workflow.Context
	cancelReminder workflow.CancelFunc
}

// judgmentStarted posts a stage's interactive judgment messages and keeps reminding while it waits.
func (n *notifier) judgmentStarted(st *stageRun, s pipeline.ManualJudgmentStage) *judgmentMessages {
	if !n.on {
		return nil
	}
	var specs []pipeline.NotificationSpec
	for _, nt := range pipeline.StageNotifications(st.cfg.Context) {
		if spec := nt.Spec(); spec.Sends(pipeline.PointManualJudgment) {
			specs = append(specs, spec)
		}
	}
	if len(specs) == 0 {
		return nil
	}
	jm := &judgmentMessages{n: n, st: st, req: notify.JudgmentRequest{
		Subject:      n.subject(pipeline.PointManualJudgment, st, ""),
		Instructions: s.Instructions,
		Inputs:       s.Inputs,
		Roles:        s.Roles,
	}}
	jm.remindersCtx, jm.cancelReminder = workflow.WithCancel(n.ctx)
	for _, spec := range specs {
		address, text := n.evaluated(spec, pipeline.PointManualJudgment, st)
		req := jm.req
		req.Text = text
		n.inFlight++
		workflow.Go(n.ctx, func(ctx workflow.Context) {
			defer func() { n.inFlight-- }()
			jm.post(ctx, spec, address, req)
		})
	}
	return jm
}

// post posts one judgment message, then reminds until the judgment ends.
func (jm *judgmentMessages) post(ctx workflow.Context, spec pipeline.NotificationSpec, address string, req notify.JudgmentRequest) {
	n := jm.n
	var acts *activities.Notifications
	var res activities.PostJudgmentResult
	err := workflow.ExecuteActivity(notifyActivityContext(ctx), acts.PostJudgment, activities.PostJudgmentInput{Address: address, Request: req}).Get(ctx, &res)
	if res.Address == "" {
		res.Address = address
	}
	n.record(jm.st, pipeline.PointManualJudgment, spec.Type, res.Address, err)
	if err != nil {
		return
	}
	if jm.over {
		// The judgment was made while the message was being posted.
		jm.update(res.Message)
		return
	}
	jm.posted = append(jm.posted, res.Message)
	if spec.NotifyEveryMs <= 0 {
		return
	}
	every := time.Duration(spec.NotifyEveryMs) * time.Millisecond
	for i := 0; i < maxReminders && !jm.over; i++ {
		if err := workflow.NewTimer(jm.remindersCtx, every).Get(ctx, nil); err != nil || jm.over {
			return
		}
		err := workflow.ExecuteActivity(notifyActivityContext(ctx), acts.RemindJudgment,
			activities.RemindJudgmentInput{Message: res.Message, Request: req}).Get(ctx, nil)
		if err != nil {
			n.r.note(fmt.Sprintf("a reminder of the judgment on stage %q could not be posted: %s", jm.st.view.Name, describeError(err)))
		}
	}
}

// ended closes every judgment message with how the judgment ended and sends the notifications
// that follow a decision.
func (jm *judgmentMessages) ended(d notify.Decision) {
	if jm == nil {
		return
	}
	jm.over = true
	jm.decision = d
	jm.cancelReminder()
	for _, ref := range jm.posted {
		jm.update(ref)
	}
}

func (jm *judgmentMessages) update(ref notify.MessageRef) {
	n := jm.n
	in := activities.UpdateJudgmentInput{Message: ref, Request: jm.req, Decision: jm.decision}
	n.inFlight++
	workflow.Go(n.ctx, func(ctx workflow.Context) {
		defer func() { n.inFlight-- }()
		var acts *activities.Notifications
		if err := workflow.ExecuteActivity(notifyActivityContext(ctx), acts.UpdateJudgment, in).Get(ctx, nil); err != nil {
			n.r.note(fmt.Sprintf("the judgment message of stage %q could not be updated: %s", jm.st.view.Name, describeError(err)))
		}
	})
}

// judgmentDecided sends the manualJudgmentContinue or manualJudgmentStop notifications.
func (n *notifier) judgmentDecided(st *stageRun, j *pipeline.Judgment) {
	point := pipeline.PointManualJudgmentContinue
	verb := "continued"
	if j.Status == pipeline.JudgmentStop {
		point, verb = pipeline.PointManualJudgmentStop, "stopped"
	}
	reason := fmt.Sprintf("%s by %s", verb, j.User)
	if j.Input != "" {
		reason += " with input " + j.Input
	}
	n.send(point, pipeline.StageNotifications(st.cfg.Context), st, reason)
}

// versionPipelineTriggers marks executions whose end fires other pipelines' pipeline triggers.
const versionPipelineTriggers = "pipeline-triggers"

// fireDownstream starts the pipelines whose pipeline triggers wait for this execution's end, beside
// the last notifications; the execution waits for it with them, bounded.
func (n *notifier) fireDownstream() {
	r := n.r
	if workflow.GetVersion(r.ctx, versionPipelineTriggers, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	in := activities.FirePipelineTriggersInput{Parent: pipeline.BoundedParent(r.exec)}
	n.inFlight++
	workflow.Go(n.ctx, func(ctx workflow.Context) {
		defer func() { n.inFlight-- }()
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    time.Minute,
			ScheduleToCloseTimeout: notifyScheduleToClose,
			RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
		})
		var executions *activities.Executions
		var res activities.FirePipelineTriggersResult
		if err := workflow.ExecuteActivity(actx, executions.FirePipelineTriggers, in).Get(ctx, &res); err != nil {
			r.note(fmt.Sprintf("pipelines triggered by this execution's end could not be started: %s", describeError(err)))
			return
		}
		for _, why := range res.NotStarted {
			r.note("a pipeline trigger started nothing: " + why)
		}
	})
}
