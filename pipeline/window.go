package pipeline

import (
	"errors"
	"fmt"
	"time"
)

// windowSearchDays is how far ahead Next looks for an opening; a week plus a day covers every
// combination of days and ranges, including a range that wraps past midnight.
const windowSearchDays = 8

const minutesPerDay = 24 * 60

// Next reports whether now is inside the window and, when it is not, the next instant it opens;
// when it is, openAt is now. Like Spinnaker, each allowed day is open during every range on that
// calendar day, and a range whose end is before its start wraps: 22:00-02:00 opens from midnight to
// 02:00 and from 22:00 to midnight of each allowed day. An empty whitelist is open all day on the
// allowed days. Times are read in the window's time zone, so a range follows daylight saving time.
// It fails on an invalid window or one that does not open within eight days.
func (w ExecutionWindow) Next(now time.Time) (openAt time.Time, openNow bool, err error) {
	if ps := w.problems("", false); len(ps) > 0 {
		return time.Time{}, false, fmt.Errorf("invalid execution window: %s", ps[0])
	}
	loc := time.UTC
	if w.TimeZone != "" {
		loc, _ = time.LoadLocation(w.TimeZone)
	}
	spans := w.spans()
	local := now.In(loc)
	for d := 0; d <= windowSearchDays; d++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+d, 0, 0, 0, 0, loc)
		if !w.allows(day.Weekday()) {
			continue
		}
		var earliest time.Time
		for _, sp := range spans {
			open := atMinute(day, sp.from)
			closeAt := atMinute(day, sp.to)
			if !closeAt.After(open) {
				continue
			}
			if !now.Before(open) && now.Before(closeAt) {
				return now, true, nil
			}
			if open.After(now) && (earliest.IsZero() || open.Before(earliest)) {
				earliest = open
			}
		}
		// Spans of later days start after every span of this day, so the first day with an
		// opening has the earliest one.
		if !earliest.IsZero() {
			return earliest, false, nil
		}
	}
	return time.Time{}, false, errors.New("the execution window does not open in the next 8 days")
}

// span is a part of a day from one minute after midnight up to (not including) another.
type span struct{ from, to int }

// spans gives the window's ranges as parts of a day, splitting a range that wraps past midnight.
func (w ExecutionWindow) spans() []span {
	if len(w.Whitelist) == 0 {
		return []span{{0, minutesPerDay}}
	}
	var out []span
	for _, r := range w.Whitelist {
		from := r.StartHour*60 + r.StartMin
		to := r.EndHour*60 + r.EndMin
		switch {
		case from < to:
			out = append(out, span{from, to})
		case from > to:
			out = append(out, span{from, minutesPerDay}, span{0, to})
		}
	}
	return out
}

// allows reports whether the window is open at all on a weekday; Spinnaker numbers Sunday 1.
func (w ExecutionWindow) allows(d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, n := range w.Days {
		if n == int(d)+1 {
			return true
		}
	}
	return false
}

// atMinute is the instant a number of minutes after the start of day, by the wall clock; minute
// 1440 is the next midnight. A wall-clock time that a daylight-saving jump skips is moved later by
// the length of the jump (02:30 becomes 03:30), as Java's time library does for Spinnaker.
func atMinute(day time.Time, minute int) time.Time {
	t := time.Date(day.Year(), day.Month(), day.Day(), minute/60, minute%60, 0, 0, day.Location())
	if minute == minutesPerDay || t.Hour()*60+t.Minute() == minute {
		return t
	}
	// In a gap, time.Date lands before the jump, so t's offset is the one the clock had then.
	_, before := t.Zone()
	fixed := time.FixedZone("", before)
	return time.Date(day.Year(), day.Month(), day.Day(), minute/60, minute%60, 0, 0, fixed).In(day.Location())
}

// problems lists what is wrong with the window; Validate also requires at least one range.
func (w ExecutionWindow) problems(path string, requireWhitelist bool) []Problem {
	var ps problems
	at := func(key string) string { return joinKey(path, key) }
	if requireWhitelist && len(w.Whitelist) == 0 {
		ps.add(at("whitelist"), "must have at least one time range")
	}
	for i, r := range w.Whitelist {
		rp := joinIndex(at("whitelist"), i)
		for _, f := range []struct {
			name     string
			value, n int
		}{{"startHour", r.StartHour, 24}, {"startMin", r.StartMin, 60}, {"endHour", r.EndHour, 24}, {"endMin", r.EndMin, 60}} {
			if f.value < 0 || f.value >= f.n {
				ps.add(joinKey(rp, f.name), "must be 0 to %d", f.n-1)
			}
		}
		if r.StartHour == r.EndHour && r.StartMin == r.EndMin {
			ps.add(rp, "start and end are the same time")
		}
	}
	for i, d := range w.Days {
		if d < 1 || d > 7 {
			ps.add(joinIndex(at("days"), i), "must be 1 (Sunday) to 7 (Saturday)")
		}
	}
	if err := checkTimeZone(w.TimeZone); err != nil {
		ps.add(at("timeZone"), "%v", err)
	}
	return ps
}
