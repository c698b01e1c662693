package api

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Time marshals as GitLab does: ISO 8601 in UTC with exactly three
// fractional digits and Z.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// ZonedTime keeps its own UTC offset (commit dates).
type ZonedTime struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t ZonedTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.Format("2006-01-02T15:04:05.000-07:00") + `"`), nil
}

func tp(t *time.Time) *Time {
	if t == nil {
		return nil
	}
	return &Time{*t}
}

// Float marshals like Ruby's Float#to_s: integral values keep ".0", very
// small or large ones use Ruby's exponent form.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) { return []byte(RubyFloat(float64(f))), nil }

// RubyFloat formats f as Ruby's Float#to_s.
func RubyFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 1e-05, 1.5e+16
		mant, exp, _ := strings.Cut(s, "e")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		sign := exp[0]
		digits := strings.TrimLeft(exp[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		if sign == '+' {
			return mant + "e+" + digits
		}
		return mant + "e-" + digits
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func fp(f *float64) *Float {
	if f == nil {
		return nil
	}
	v := Float(*f)
	return &v
}
