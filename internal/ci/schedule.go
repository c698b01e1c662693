package ci

import (
	"strings"
	"time"
	// Time zones are part of a schedule's meaning: the coordinator must
	// know them even on a host without a zoneinfo database.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// PipelineSchedule is a project's pipeline schedule (Ci::PipelineSchedule).
// Ref is stored as GitLab stores it since short refs are expanded: a full
// refs/heads/… or refs/tags/… name.
type PipelineSchedule struct {
	ID           int64
	ProjectID    int64
	OwnerID      int64
	Description  string
	Ref          string
	Cron         string
	CronTimezone string
	// NextRunAt is when the scheduler runs it next (nil before the first
	// computation, as GitLab allows).
	NextRunAt *time.Time
	Active    bool
	Inputs    []ScheduleInput
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ScheduleInput is one pipeline input a schedule passes
// (Ci::PipelineScheduleInput): a name and a string, array, number or
// boolean value.
type ScheduleInput struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// ScheduleVariable is a variable a schedule gives its pipelines
// (Ci::PipelineScheduleVariable); VariableType is env_var or file.
type ScheduleVariable struct {
	ScheduleID   int64
	Key          string
	Value        string
	VariableType string
}

// Full ref prefixes (Gitlab::Git::BRANCH_REF_PREFIX, TAG_REF_PREFIX).
const (
	BranchRefPrefix = "refs/heads/"
	TagRefPrefix    = "refs/tags/"
)

// SplitFullRef splits refs/heads/x or refs/tags/x into the short name and
// whether it is a tag; ok is false for anything else.
func SplitFullRef(ref string) (name string, tag, ok bool) {
	if n, found := strings.CutPrefix(ref, BranchRefPrefix); found && n != "" && !strings.ContainsAny(n, " \t\n") {
		return n, false, true
	}
	if n, found := strings.CutPrefix(ref, TagRefPrefix); found && n != "" && !strings.ContainsAny(n, " \t\n") {
		return n, true, true
	}
	return "", false, false
}

// cronParser reads what GitLab's Gitlab::Ci::CronParser (Fugit) accepts
// that matters in practice: five fields, an optional leading seconds
// field, names of months and weekdays, ranges, steps and lists, and the
// @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly nicknames.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// CronLine is a parsed schedule: a cron line in its time zone.
type CronLine struct {
	sched cron.Schedule
	loc   *time.Location
}

// ParseCron parses a cron line for a time zone (an IANA name such as
// Europe/Berlin or UTC). ok is false when either is invalid.
func ParseCron(line, zone string) (*CronLine, bool) {
	loc, ok := cronZone(zone)
	if !ok {
		return nil, false
	}
	line = strings.TrimSpace(line)
	// robfig/cron extensions GitLab has not: @every and a zone prefix.
	if line == "" || strings.HasPrefix(line, "@every") || strings.HasPrefix(line, "TZ=") || strings.HasPrefix(line, "CRON_TZ=") {
		return nil, false
	}
	s, err := cronParser.Parse(line)
	if err != nil {
		return nil, false
	}
	return &CronLine{sched: s, loc: loc}, true
}

func cronZone(zone string) (*time.Location, bool) {
	if zone == "" || zone == "Local" {
		return nil, false
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, false
	}
	return loc, true
}

// ValidCron is CronParser#cron_valid?: the line parses in UTC.
func ValidCron(line string) bool {
	_, ok := ParseCron(line, "UTC")
	return ok
}

// ValidCronTimezone is CronParser#cron_timezone_valid?: "* * * * *"
// parses in the zone.
func ValidCronTimezone(zone string) bool {
	_, ok := ParseCron("* * * * *", zone)
	return ok
}

// Next is CronParser#next_time_from: the first time strictly after t at
// which the line fires, read in the line's zone, in UTC. The zero time
// means never.
func (c *CronLine) Next(t time.Time) time.Time {
	n := c.sched.Next(t.In(c.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// NextRun is Ci::PipelineSchedule#set_next_run_at for a schedule that
// the scheduler considers on every tick: the line's next time after now
// (GitLab further rounds it up to its schedule worker's own cron, see
// docs/ci-api.md). ok is false for an invalid cron line or zone.
func (s *PipelineSchedule) NextRun(now time.Time) (time.Time, bool) {
	c, ok := ParseCron(s.Cron, s.CronTimezone)
	if !ok {
		return time.Time{}, false
	}
	n := c.Next(now)
	return n, !n.IsZero()
}
