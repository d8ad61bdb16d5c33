package pipeline

import (
	"strings"
	"testing"
)

func TestCronSpec(t *testing.T) {
	tests := []struct {
		name       string
		expression string
		timeZone   string
		want       string
		err        string
	}{
		// Quartz, as Spinnaker's cron triggers write it.
		{"quartz daily noon", "0 0 12 * * ?", "", "0 0 12 * * * *", ""},
		{"quartz every 30 minutes", "0 0/30 * * * ?", "", "0 0/30 * * * * *", ""},
		{"quartz weekdays by number", "0 15 10 ? * 2-6", "", "0 15 10 * * 1-5 *", ""},
		{"quartz weekdays by name", "0 15 10 ? * MON-FRI", "", "0 15 10 * * MON-FRI *", ""},
		{"quartz weekend list", "0 0 8 ? * 1,7", "", "0 0 8 * * 0,6 *", ""},
		{"quartz mixed name and number", "0 0 8 ? * MON-5", "", "0 0 8 * * MON-4 *", ""},
		{"quartz dow step", "0 0 8 ? * 2/2", "", "0 0 8 * * 1/2 *", ""},
		{"quartz dow star step", "0 0 8 ? * */2", "", "0 0 8 * * */2 *", ""},
		{"quartz day of month", "0 0 6 1,15 * ?", "", "0 0 6 1,15 * * *", ""},
		{"quartz with year", "0 0 6 ? * 1 2030", "", "0 0 6 * * 0 2030", ""},
		{"quartz year range", "0 0 6 1 JAN ? 2026-2028", "", "0 0 6 1 JAN * 2026-2028", ""},
		{"quartz year star", "0 0 6 * * ? *", "", "0 0 6 * * * *", ""},
		{"quartz extra spaces", "  0  0 12  * * ?  ", "", "0 0 12 * * * *", ""},
		{"time zone prefix", "0 0 9 ? * MON-FRI", "Europe/Paris", "CRON_TZ=Europe/Paris 0 0 9 * * MON-FRI *", ""},

		// Standard cron.
		{"standard hourly", "0 * * * *", "", "0 * * * *", ""},
		{"standard weekdays", "30 9 * * 1-5", "", "30 9 * * 1-5", ""},
		{"standard question mark", "30 9 ? * 1-5", "", "30 9 * * 1-5", ""},
		{"standard steps", "*/15 0-6 * * *", "", "*/15 0-6 * * *", ""},
		{"standard names", "0 9 * jan,jun mon", "America/New_York", "CRON_TZ=America/New_York 0 9 * jan,jun mon", ""},
		{"descriptor", "@daily", "", "@daily", ""},

		// Rejected.
		{"empty", "  ", "", "", "empty cron expression"},
		{"too few fields", "* * *", "", "", "a cron expression has 5 fields"},
		{"too many fields", "0 0 0 * * ? * *", "", "", "got 8"},
		{"last day of month", "0 0 12 L * ?", "", "", "L and W"},
		{"nearest weekday", "0 0 12 15W * ?", "", "", "L and W"},
		{"last friday", "0 0 12 ? * 6L", "", "", "day-of-week: Quartz's L (last day of the week in the month) is not supported"},
		{"nth weekday", "0 0 12 ? * 6#3", "", "", "# (nth day of the week in the month) is not supported"},
		{"quartz dow zero", "0 0 12 ? * 0", "", "", "day of week 0 is out of range"},
		{"quartz dow eight", "0 0 12 ? * 1-8", "", "", "day of week 8 is out of range"},
		{"quartz bad dow name", "0 0 12 ? * FUNDAY", "", "", `invalid day of week "FUNDAY"`},
		{"both day fields", "0 0 12 1 * MON", "", "", "day-of-month and day-of-week cannot both be set"},
		{"standard both day fields", "0 12 1 * 1", "", "", "day-of-month and day-of-week cannot both be set"},
		{"question mark in hour", "0 0 ? * * ?", "", "", "? is only allowed"},
		{"bad minute", "0 61 * * * ?", "", "", "invalid cron expression: end of range (61) above maximum (59)"},
		{"bad standard hour", "0 24 * * *", "", "", "invalid cron expression"},
		{"zero step", "0 */0 * * * ?", "", "", "invalid cron expression"},
		{"bad year", "0 0 0 * * ? 1999", "", "", `invalid year "1999"`},
		{"year words", "0 0 0 * * ? soon", "", "", `invalid year "soon"`},
		{"backwards years", "0 0 0 * * ? 2030-2020", "", "", `invalid year "2030-2020"`},
		{"unknown descriptor", "@every 5m", "", "", "unknown cron shorthand"},
		{"zone in expression", "CRON_TZ=UTC 0 * * * *", "", "", "give the time zone in timeZone"},
		{"bad time zone", "0 0 12 * * ?", "Mars/Olympus", "", `unknown time zone "Mars/Olympus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CronSpec(tt.expression, tt.timeZone)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("CronSpec(%q) = %q, %v; want error containing %q", tt.expression, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CronSpec(%q) = %q, %v; want %q", tt.expression, got, err, tt.want)
			}
		})
	}
}
