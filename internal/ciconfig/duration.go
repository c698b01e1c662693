package ciconfig

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Duration limits of GitLab's entries.
const (
	secondsPerDay = 24 * 3600
	limitWeek     = 7 * secondsPerDay
	limitMonth    = 30 * secondsPerDay
)

// durationUnits follows ChronicDuration's unit table (a month is 30 days,
// a year 365.25 days).
var durationUnits = map[string]float64{
	"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
	"d": secondsPerDay, "day": secondsPerDay, "days": secondsPerDay,
	"w": 7 * secondsPerDay, "wk": 7 * secondsPerDay, "wks": 7 * secondsPerDay, "week": 7 * secondsPerDay, "weeks": 7 * secondsPerDay,
	"mo": 30 * secondsPerDay, "mos": 30 * secondsPerDay, "month": 30 * secondsPerDay, "months": 30 * secondsPerDay,
	"y": 365.25 * secondsPerDay, "yr": 365.25 * secondsPerDay, "yrs": 365.25 * secondsPerDay, "year": 365.25 * secondsPerDay, "years": 365.25 * secondsPerDay,
}

var (
	durationToken = regexp.MustCompile(`^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)`)
	clockFormat   = regexp.MustCompile(`^(\d+):(\d{1,2})(?::(\d{1,2}))?$`)
)

// parseDuration is a ChronicDuration.parse subset: "1h 30m", "90 minutes",
// "3600", "1 day and 2 hours", "1:30:00". ok is false for text it cannot read.
func parseDuration(s string) (seconds int, ok bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, false
	}
	if m := clockFormat.FindStringSubmatch(t); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if m[3] == "" {
			return a*60 + b, true
		}
		c, _ := strconv.Atoi(m[3])
		return a*3600 + b*60 + c, true
	}
	t = strings.NewReplacer(",", " ", " and ", " ").Replace(t)
	var total float64
	found := false
	for {
		t = strings.TrimSpace(t)
		if t == "" {
			break
		}
		m := durationToken.FindStringSubmatch(t)
		if m == nil {
			return 0, false
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, false
		}
		mult := 1.0
		if m[2] != "" {
			u, known := durationUnits[m[2]]
			if !known {
				return 0, false
			}
			mult = u
		}
		total += n * mult
		found = true
		t = t[len(m[0]):]
	}
	if !found || total > math.MaxInt32 {
		return 0, false
	}
	return int(math.Round(total)), true
}

// durationValue reads a scalar duration (strings and integers are allowed).
func durationValue(v any) (int, bool) {
	switch t := v.(type) {
	case string:
		return parseDuration(t)
	case int64:
		if t < 0 {
			return 0, false
		}
		return int(t), true
	case float64:
		return parseDuration(rubyToS(t))
	}
	return 0, false
}
