package pipeline

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestExecutionWindowNext(t *testing.T) {
	nineToFive := []TimeRange{{StartHour: 9, EndHour: 17}}
	overnight := []TimeRange{{StartHour: 22, EndHour: 2}}
	tests := []struct {
		name   string
		window ExecutionWindow
		now    string
		open   bool
		openAt string // empty when open
	}{
		{"inside", ExecutionWindow{Whitelist: nineToFive}, "2024-03-04T10:00:00Z", true, ""},
		{"at the start", ExecutionWindow{Whitelist: nineToFive}, "2024-03-04T09:00:00Z", true, ""},
		{"before the start", ExecutionWindow{Whitelist: nineToFive}, "2024-03-04T08:59:30Z", false, "2024-03-04T09:00:00Z"},
		{"at the end", ExecutionWindow{Whitelist: nineToFive}, "2024-03-04T17:00:00Z", false, "2024-03-05T09:00:00Z"},
		{"after the end", ExecutionWindow{Whitelist: nineToFive}, "2024-03-04T23:00:00Z", false, "2024-03-05T09:00:00Z"},
		{"minutes", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 9, StartMin: 45, EndHour: 10, EndMin: 15}}},
			"2024-03-04T10:15:00Z", false, "2024-03-05T09:45:00Z"},
		{"earliest of several ranges", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 20, EndHour: 21}, {StartHour: 13, EndHour: 14}}},
			"2024-03-04T12:00:00Z", false, "2024-03-04T13:00:00Z"},
		{"second range", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 1, EndHour: 2}, {StartHour: 13, EndHour: 14}}},
			"2024-03-04T13:30:00Z", true, ""},

		{"overnight late", ExecutionWindow{Whitelist: overnight}, "2024-03-04T23:30:00Z", true, ""},
		{"overnight early", ExecutionWindow{Whitelist: overnight}, "2024-03-04T01:59:00Z", true, ""},
		{"overnight closed", ExecutionWindow{Whitelist: overnight}, "2024-03-04T02:00:00Z", false, "2024-03-04T22:00:00Z"},

		// 2024-03-01 is a Friday; days count Sunday as 1.
		{"day filter skips the weekend", ExecutionWindow{Whitelist: nineToFive, Days: []int{2, 3, 4, 5, 6}},
			"2024-03-01T18:00:00Z", false, "2024-03-04T09:00:00Z"},
		{"day filter same day", ExecutionWindow{Whitelist: nineToFive, Days: []int{6}}, "2024-03-01T12:00:00Z", true, ""},
		{"day filter a week ahead", ExecutionWindow{Whitelist: nineToFive, Days: []int{6}},
			"2024-03-01T17:30:00Z", false, "2024-03-08T09:00:00Z"},
		{"saturday only", ExecutionWindow{Whitelist: nineToFive, Days: []int{7}}, "2024-03-01T12:00:00Z", false, "2024-03-02T09:00:00Z"},
		// Spinnaker applies the days to the calendar day: Monday's overnight range covers Monday
		// 00:00-02:00 and 22:00-24:00, so Tuesday 01:00 is closed.
		{"overnight with days, next morning closed", ExecutionWindow{Whitelist: overnight, Days: []int{2}},
			"2024-03-05T01:00:00Z", false, "2024-03-11T00:00:00Z"},
		{"overnight with days, same morning", ExecutionWindow{Whitelist: overnight, Days: []int{2}},
			"2024-03-04T01:00:00Z", true, ""},
		{"overnight with days, evening", ExecutionWindow{Whitelist: overnight, Days: []int{2}},
			"2024-03-04T12:00:00Z", false, "2024-03-04T22:00:00Z"},

		{"no ranges is all day", ExecutionWindow{Days: []int{1}}, "2024-03-02T12:00:00Z", false, "2024-03-03T00:00:00Z"},
		{"no ranges, no days", ExecutionWindow{}, "2024-03-02T12:00:00Z", true, ""},

		// Paris is UTC+1 in winter, UTC+2 in summer.
		{"time zone winter", ExecutionWindow{Whitelist: nineToFive, TimeZone: "Europe/Paris"},
			"2024-01-15T07:30:00Z", false, "2024-01-15T08:00:00Z"},
		{"time zone summer", ExecutionWindow{Whitelist: nineToFive, TimeZone: "Europe/Paris"},
			"2024-07-15T07:30:00Z", true, ""},
		{"time zone day boundary", ExecutionWindow{Whitelist: nineToFive, Days: []int{2}, TimeZone: "Asia/Tokyo"},
			"2024-03-03T23:30:00Z", false, "2024-03-04T00:00:00Z"},
		// New York moves to daylight time on 2024-03-10: 09:00 that Sunday is 13:00 UTC, not 14:00.
		{"across a DST change", ExecutionWindow{Whitelist: nineToFive, TimeZone: "America/New_York"},
			"2024-03-09T23:00:00Z", false, "2024-03-10T13:00:00Z"},
		{"inside a range spanning the DST jump", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 1, EndHour: 5}}, TimeZone: "America/New_York"},
			"2024-03-10T08:00:00Z", true, ""},
		// 02:30 does not exist that day; like Java, the window opens when the clock jumps past it.
		{"start skipped by DST", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 2, StartMin: 30, EndHour: 4}}, TimeZone: "America/New_York"},
			"2024-03-10T05:00:00Z", false, "2024-03-10T07:30:00Z"},
		// 02:00-03:00 does not exist that day; the window next opens the day after.
		{"range skipped by DST", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 2, EndHour: 3}}, TimeZone: "America/New_York"},
			"2024-03-10T05:00:00Z", false, "2024-03-11T06:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := mustTime(t, tt.now)
			openAt, open, err := tt.window.Next(now)
			if err != nil {
				t.Fatal(err)
			}
			if open != tt.open {
				t.Fatalf("open = %v, want %v (openAt %v)", open, tt.open, openAt)
			}
			want := now
			if !tt.open {
				want = mustTime(t, tt.openAt)
			}
			if !openAt.Equal(want) {
				t.Fatalf("openAt = %v, want %v", openAt.UTC(), want)
			}
		})
	}
}

func TestExecutionWindowNextInvalid(t *testing.T) {
	tests := []struct {
		name   string
		window ExecutionWindow
		err    string
	}{
		{"hour", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 24, EndHour: 2}}}, "whitelist[0].startHour: must be 0 to 23"},
		{"minute", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 1, EndHour: 2, EndMin: -1}}}, "whitelist[0].endMin: must be 0 to 59"},
		{"empty range", ExecutionWindow{Whitelist: []TimeRange{{StartHour: 3, EndHour: 3}}}, "whitelist[0]: start and end are the same time"},
		{"day", ExecutionWindow{Days: []int{0}}, "days[0]: must be 1 (Sunday) to 7 (Saturday)"},
		{"zone", ExecutionWindow{TimeZone: "Nowhere/Land"}, `timeZone: unknown time zone "Nowhere/Land"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.window.Next(mustTime(t, "2024-03-04T10:00:00Z"))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}
