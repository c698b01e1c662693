package ci

import (
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 28, 23, 30, 15, 0, time.UTC) // a Saturday
	tests := []struct {
		cron, zone string
		want       time.Time
	}{
		{"* * * * *", "UTC", time.Date(2026, 3, 28, 23, 31, 0, 0, time.UTC)},
		{"*/15 * * * *", "UTC", time.Date(2026, 3, 28, 23, 45, 0, 0, time.UTC)},
		{"0 1 * * *", "UTC", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		// 01:00 in Tokyo (UTC+9) is 16:00 UTC the day before.
		{"0 1 * * *", "Asia/Tokyo", time.Date(2026, 3, 29, 16, 0, 0, 0, time.UTC)},
		// Berlin moves to summer time on 2026-03-29: 03:00 CEST is 01:00 UTC.
		{"0 3 * * *", "Europe/Berlin", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		{"0 9 * * mon-fri", "UTC", time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)},
		{"0 0 1 jan *", "UTC", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"@daily", "UTC", time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)},
		{"@hourly", "UTC", time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)},
		{"30 * * * * *", "UTC", time.Date(2026, 3, 28, 23, 30, 30, 0, time.UTC)},
	}
	for _, tt := range tests {
		c, ok := ParseCron(tt.cron, tt.zone)
		if !ok {
			t.Errorf("ParseCron(%q, %q) refused", tt.cron, tt.zone)
			continue
		}
		if got := c.Next(at); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("%q in %s: next after %v = %v, want %v", tt.cron, tt.zone, at, got, tt.want)
		}
	}
}

func TestCronValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"", "invalid-cron", "* * * *", "61 * * * *", "@every 1h", "CRON_TZ=UTC * * * * *",
		"TZ=UTC * * * * *", "* * * * * * *"} {
		if ValidCron(c) {
			t.Errorf("ValidCron(%q) = true", c)
		}
	}
	for _, c := range []string{"* * * * *", " 0 1 * * * ", "0 0 * * 0", "@weekly", "*/5 1-3 * 1,6 sun"} {
		if !ValidCron(c) {
			t.Errorf("ValidCron(%q) = false", c)
		}
	}
	for _, z := range []string{"", "Local", "Mars/Olympus", "utc+1"} {
		if ValidCronTimezone(z) {
			t.Errorf("ValidCronTimezone(%q) = true", z)
		}
	}
	for _, z := range []string{"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo"} {
		if !ValidCronTimezone(z) {
			t.Errorf("ValidCronTimezone(%q) = false", z)
		}
	}
}

func TestSplitFullRef(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ref, name string
		tag, ok   bool
	}{
		{"refs/heads/main", "main", false, true},
		{"refs/tags/v1.0", "v1.0", true, true},
		{"refs/heads/feature/x", "feature/x", false, true},
		{"main", "", false, false},
		{"refs/heads/", "", false, false},
		{"refs/merge-requests/1/head", "", false, false},
	} {
		name, tag, ok := SplitFullRef(tt.ref)
		if name != tt.name || tag != tt.tag || ok != tt.ok {
			t.Errorf("SplitFullRef(%q) = %q %v %v", tt.ref, name, tag, ok)
		}
	}
}
