package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/robfig/cron/v3"
)

// Spinnaker's cron triggers use Quartz expressions (sec min hour day-of-month month day-of-week
// [year], days of the week numbered 1 = Sunday, ? for "no value"); Temporal schedules take
// 5 fields (min hour dom month dow) or 7 (sec min hour dom month dow year) with Sunday 0 and no ?.

var (
	standardCron = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	secondsCron  = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
)

// cronDescriptors are the shorthands both Temporal and the checking parser understand.
var cronDescriptors = []string{"@annually", "@daily", "@hourly", "@midnight", "@monthly", "@weekly", "@yearly"}

// Years Temporal accepts in a schedule's year field.
const (
	minCronYear = 2000
	maxCronYear = 2100
)

// CronSpec turns a cron trigger's expression into a Temporal schedule cron string. A 6- or 7-field
// Quartz expression becomes 7 fields (year * when absent) with ? as * and numbered days of the
// week moved down by one; a standard 5-field expression keeps its form. Quartz's L, W and #
// cannot be expressed and are rejected, as is restricting both day of month and day of week (cron
// would match either, Quartz refuses it and Temporal requires both). A non-empty timeZone is
// checked and added as a CRON_TZ= prefix.
func CronSpec(expression, timeZone string) (string, error) {
	spec, err := translateCron(strings.TrimSpace(expression))
	if err != nil {
		return "", err
	}
	if timeZone == "" {
		return spec, nil
	}
	if err := checkTimeZone(timeZone); err != nil {
		return "", err
	}
	return "CRON_TZ=" + timeZone + " " + spec, nil
}

func translateCron(expression string) (string, error) {
	if expression == "" {
		return "", errors.New("empty cron expression")
	}
	upper := strings.ToUpper(expression)
	if strings.HasPrefix(upper, "TZ=") || strings.HasPrefix(upper, "CRON_TZ=") {
		return "", errors.New("give the time zone in timeZone, not in the cron expression")
	}
	if strings.Contains(expression, "#") {
		// Temporal would read # as the start of a comment and silently drop the rest.
		return "", errors.New("# (nth day of the week in the month) is not supported")
	}
	if strings.HasPrefix(expression, "@") {
		if !slices.Contains(cronDescriptors, expression) {
			return "", fmt.Errorf("unknown cron shorthand %q; supported: %s", expression, strings.Join(cronDescriptors, ", "))
		}
		return expression, nil
	}
	fields := strings.Fields(expression)
	switch len(fields) {
	case 5:
		return translateStandardCron(fields)
	case 6, 7:
		return translateQuartzCron(fields)
	}
	return "", fmt.Errorf("a cron expression has 5 fields (minute hour day-of-month month day-of-week) "+
		"or 6 to 7 in Quartz form (second minute hour day-of-month month day-of-week [year]); got %d", len(fields))
}

func translateStandardCron(f []string) (string, error) {
	if err := translateDays(f, 2, 4); err != nil {
		return "", err
	}
	if err := checkStandardDow(f[4]); err != nil {
		return "", err
	}
	spec := strings.Join(f, " ")
	if _, err := standardCron.Parse(spec); err != nil {
		return "", fmt.Errorf("invalid cron expression: %v", err)
	}
	return spec, nil
}

func translateQuartzCron(f []string) (string, error) {
	if len(f) == 6 {
		f = append(f, "*")
	}
	if err := translateDays(f, 3, 5); err != nil {
		return "", err
	}
	dow, err := shiftQuartzDow(f[5])
	if err != nil {
		return "", err
	}
	f[5] = dow
	if err := checkYear(f[6]); err != nil {
		return "", err
	}
	if _, err := secondsCron.Parse(strings.Join(f[:6], " ")); err != nil {
		return "", fmt.Errorf("invalid cron expression: %v", err)
	}
	return strings.Join(f, " "), nil
}

// translateDays replaces ? in the day fields, rejects it elsewhere, rejects L and W, and rejects
// restricting both day fields.
func translateDays(f []string, dom, dow int) error {
	for i, field := range f {
		if field == "?" && (i == dom || i == dow) {
			f[i] = "*"
			continue
		}
		if strings.Contains(field, "?") {
			return errors.New("? is only allowed as the whole day-of-month or day-of-week field")
		}
	}
	if strings.ContainsAny(strings.ToUpper(f[dom]), "LW") {
		return errors.New("day-of-month: Quartz's L and W (last day, nearest weekday) are not supported")
	}
	if f[dom] != "*" && f[dow] != "*" {
		return errors.New("day-of-month and day-of-week cannot both be set; use ? or * in one of them")
	}
	return nil
}

// dowNames are the day names, Sunday first, as cron and Quartz both accept them.
var dowNames = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

// shiftQuartzDow renumbers a Quartz day-of-week field (1 = Sunday) for cron (0 = Sunday). Only day
// numbers move; names and step sizes stay.
func shiftQuartzDow(field string) (string, error) {
	if field == "*" {
		return field, nil
	}
	parts := strings.Split(field, ",")
	for i, part := range parts {
		rng, step, hasStep := strings.Cut(part, "/")
		if rng != "*" {
			lo, hi, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = shiftDowAtom(lo); err != nil {
				return "", err
			}
			rng = lo
			if isRange {
				if hi, err = shiftDowAtom(hi); err != nil {
					return "", err
				}
				rng += "-" + hi
			}
		}
		if hasStep {
			rng += "/" + step
		}
		parts[i] = rng
	}
	return strings.Join(parts, ","), nil
}

func shiftDowAtom(atom string) (string, error) {
	if n, err := strconv.Atoi(atom); err == nil {
		if n < 1 || n > 7 {
			return "", fmt.Errorf("day of week %d is out of range; Quartz numbers them 1 (SUN) to 7 (SAT)", n)
		}
		return strconv.Itoa(n - 1), nil
	}
	if err := checkDowName(atom); err != nil {
		return "", err
	}
	return atom, nil
}

func checkDowName(atom string) error {
	upper := strings.ToUpper(atom)
	if slices.Contains(dowNames, upper) {
		return nil
	}
	if strings.HasSuffix(upper, "L") {
		return errors.New("day-of-week: Quartz's L (last day of the week in the month) is not supported")
	}
	return fmt.Errorf("invalid day of week %q", atom)
}

// checkStandardDow rejects Quartz's L in a 5-field expression with a clearer message than the
// parser's.
func checkStandardDow(field string) error {
	for _, part := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if _, err := strconv.Atoi(part); err == nil || part == "*" {
			continue
		}
		if err := checkDowName(part); err != nil {
			return err
		}
	}
	return nil
}

// checkYear accepts *, a year, a range of years, or a list of those, within what Temporal handles.
func checkYear(field string) error {
	if field == "*" {
		return nil
	}
	for _, part := range strings.Split(field, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		from, errFrom := strconv.Atoi(lo)
		to, errTo := strconv.Atoi(hi)
		if errFrom != nil || errTo != nil || from < minCronYear || to > maxCronYear || from > to {
			return fmt.Errorf("invalid year %q; use *, a year or a range of years from %d to %d", part, minCronYear, maxCronYear)
		}
	}
	return nil
}
