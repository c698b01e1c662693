package ci

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Runner types (Ci::Runner runner_type).
const (
	RunnerInstance = "instance_type"
	RunnerGroup    = "group_type"
	RunnerProject  = "project_type"
)

// Runner access levels (Ci::Runner access_level): a ref_protected runner
// takes only jobs of protected refs.
const (
	RunnerNotProtected = "not_protected"
	RunnerRefProtected = "ref_protected"
)

// Runner statuses, as Ci::Runner#status and the list scopes name them.
const (
	RunnerOnline         = "online"
	RunnerOffline        = "offline"
	RunnerNeverContacted = "never_contacted"
	RunnerStale          = "stale"
	RunnerActive         = "active"
	RunnerPaused         = "paused"
)

// Legacy list scopes: "shared" is instance runners, "specific" the others.
const (
	RunnerScopeShared   = "shared"
	RunnerScopeSpecific = "specific"
)

// Timing rules of app/models/ci/runner.rb.
const (
	// RunnerOnlineTimeout is ONLINE_CONTACT_TIMEOUT: contacted within it is online.
	RunnerOnlineTimeout = 2 * time.Hour
	// RunnerStaleTimeout is STALE_TIMEOUT: silent (or never contacted and
	// created) longer than it is stale.
	RunnerStaleTimeout = 7 * 24 * time.Hour
	// RunnerMinTimeout is the floor on maximum_timeout, in seconds (10 minutes).
	RunnerMinTimeout = 600
	// RunnerNoteMax is the limit on maintenance_note, in characters.
	RunnerNoteMax = 1024
)

// Value sets of Ci::Runner, as the API's values: validators list them.
var (
	RunnerTypes        = []string{RunnerInstance, RunnerGroup, RunnerProject}
	RunnerAccessLevels = []string{RunnerNotProtected, RunnerRefProtected}
	// RunnerStatuses is AVAILABLE_STATUSES_INCL_DEPRECATED.
	RunnerStatuses = []string{RunnerActive, RunnerPaused, RunnerOnline, RunnerOffline, RunnerNeverContacted, RunnerStale}
	// RunnerScopes is AVAILABLE_SCOPES: legacy types, types and statuses.
	RunnerScopes = slices.Concat([]string{RunnerScopeSpecific, RunnerScopeShared}, RunnerTypes, RunnerStatuses)
)

// Runner is a registered runner.
type Runner struct {
	ID              int64
	Description     string
	RunnerType      string
	ProjectIDs      []int64
	Tags            []string
	RunUntagged     bool
	Paused          bool
	Locked          bool
	AccessLevel     string // RunnerNotProtected or RunnerRefProtected
	MaximumTimeout  int    // seconds, 0 = none
	MaintenanceNote string
	CreatedAt       time.Time
	ContactedAt     *time.Time
	CreatedByID     int64
	// TokenPrefix is the first characters of the token, kept for display.
	TokenPrefix string
	// TokenExpiresAt is nil: Gantry's runner tokens do not expire.
	TokenExpiresAt *time.Time
}

// RunnerManager is one process (system_id) running a runner's token.
type RunnerManager struct {
	ID           int64
	RunnerID     int64
	SystemID     string
	Version      string
	Revision     string
	Platform     string
	Architecture string
	IPAddress    string
	Features     map[string]bool
	CreatedAt    time.Time
	ContactedAt  *time.Time
}

// contactStatus is Ci::Runner#status (and RunnerManager's): the status
// name and whether it counts as online.
func contactStatus(contacted *time.Time, created time.Time, paused bool, now time.Time) (string, bool) {
	online := contacted != nil && now.Sub(*contacted) < RunnerOnlineTimeout
	switch {
	case paused:
		return RunnerPaused, online
	case contacted == nil:
		if now.Sub(created) > RunnerStaleTimeout {
			return RunnerStale, false
		}
		return RunnerNeverContacted, false
	case online:
		return RunnerOnline, true
	case now.Sub(*contacted) > RunnerStaleTimeout:
		return RunnerStale, false
	}
	return RunnerOffline, false
}

// Status is the runner's status at now and whether it is online.
func (r *Runner) Status(now time.Time) (string, bool) {
	return contactStatus(r.ContactedAt, r.CreatedAt, r.Paused, now)
}

// StatusChangesAt is the next moment after now at which the runner's
// status (or whether it is online) changes by time alone, with no
// contact: online turns offline, offline or never contacted turns stale.
// Zero when none will.
func (r *Runner) StatusChangesAt(now time.Time) time.Time {
	var at []time.Time
	if r.ContactedAt != nil {
		at = append(at, r.ContactedAt.Add(RunnerOnlineTimeout), r.ContactedAt.Add(RunnerStaleTimeout+time.Nanosecond))
	} else {
		at = append(at, r.CreatedAt.Add(RunnerStaleTimeout+time.Nanosecond))
	}
	var next time.Time
	for _, t := range at {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// Status is the manager's status at now (a manager is never paused).
func (m *RunnerManager) Status(now time.Time) string {
	s, _ := contactStatus(m.ContactedAt, m.CreatedAt, false, now)
	return s
}

// LatestManager is Ci::Runner#latest_runner_manager: the most recently
// contacted manager (order_contacted_at_desc, nulls last), nil for none.
func LatestManager(ms []*RunnerManager) *RunnerManager {
	var latest *RunnerManager
	for _, m := range ms {
		if latest == nil || (m.ContactedAt != nil && (latest.ContactedAt == nil || m.ContactedAt.After(*latest.ContactedAt))) {
			latest = m
		}
	}
	return latest
}

// Matches is Ci::Runner#matches_build?: every job tag is a runner tag (an
// untagged job needs run_untagged), and a ref_protected runner takes only
// jobs of protected refs. refProtected is asked only when it matters.
func (r *Runner) Matches(j *Job, refProtected func() bool) bool {
	if len(j.Tags) == 0 {
		if !r.RunUntagged {
			return false
		}
	} else if !r.HasTags(j.Tags) {
		return false
	}
	return r.AccessLevel != RunnerRefProtected || refProtected()
}

// HasTags reports whether every tag in want is a runner tag (tagged_with).
func (r *Runner) HasTags(want []string) bool {
	for _, t := range want {
		if !slices.Contains(r.Tags, t) {
			return false
		}
	}
	return true
}

// EffectiveTimeout is the job timeout in seconds given the job's own (or
// its project's) timeout base: the runner's maximum caps it, and replaces
// a missing one.
func (r *Runner) EffectiveTimeout(base int) int {
	if r.MaximumTimeout > 0 && (base == 0 || r.MaximumTimeout < base) {
		return r.MaximumTimeout
	}
	return base
}

// FieldError is one failed model validation: the attribute, its human
// name and the message (GitLab shows "Name message" or {attr: [message]}).
type FieldError struct{ Attr, Name, Message string }

// FieldErrors are a record's failed validations, in validation order.
type FieldErrors []FieldError

// Sentence is errors.full_messages.to_sentence.
func (es FieldErrors) Sentence() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Name + " " + e.Message
	}
	switch len(msgs) {
	case 0:
		return ""
	case 1:
		return msgs[0]
	case 2:
		return msgs[0] + " and " + msgs[1]
	}
	return strings.Join(msgs[:len(msgs)-1], ", ") + ", and " + msgs[len(msgs)-1]
}

// ByAttr is errors.messages: {attr: [messages]}.
func (es FieldErrors) ByAttr() map[string][]string {
	out := map[string][]string{}
	for _, e := range es {
		out[e.Attr] = append(out[e.Attr], e.Message)
	}
	return out
}

// Validate runs the Ci::Runner validations Gantry's settings can break.
func (r *Runner) Validate() FieldErrors {
	var errs FieldErrors
	if r.MaximumTimeout != 0 && r.MaximumTimeout < RunnerMinTimeout {
		errs = append(errs, FieldError{"maximum_timeout", "Maximum timeout", "needs to be at least 10 minutes"})
	}
	if len(r.Tags) == 0 && !r.RunUntagged {
		errs = append(errs, FieldError{"tags_list", "Tags list",
			"can not be empty when runner is not allowed to pick untagged jobs"})
	}
	if len([]rune(r.MaintenanceNote)) > RunnerNoteMax {
		errs = append(errs, FieldError{"maintenance_note", "Maintenance note",
			fmt.Sprintf("is too long (maximum is %d characters)", RunnerNoteMax)})
	}
	return errs
}

// Params is what the runner settings parser reads; httpx.Params is one.
type Params interface {
	Has(k string) bool
	Str(k string) string
	List(k string) []string
	Bool(k string, def bool) (bool, error)
	Int(k string, def int64) (int64, error)
}

// RunnerSettings are the optional settings every way of creating or
// updating a runner accepts (legacy registration, POST /user/runners, PUT
// /runners/:id); nil (or a nil Tags) means absent.
type RunnerSettings struct {
	Description, MaintenanceNote, AccessLevel *string
	Paused, Locked, RunUntagged               *bool
	Tags                                      []string
	MaximumTimeout                            *int // 0 clears it
}

// ParseRunnerSettings reads the settings in Grape's declaration order.
// With active, the deprecated `active` (the inverse of paused) is read
// too; a `paused` given as well wins, as lib/api/ci/runner.rb has it.
func ParseRunnerSettings(p Params, active bool) (*RunnerSettings, error) {
	rs := &RunnerSettings{}
	str := func(k string) *string {
		if !p.Has(k) {
			return nil
		}
		v := p.Str(k)
		return &v
	}
	optBool := func(k string) (*bool, error) {
		if !p.Has(k) {
			return nil, nil
		}
		v, err := p.Bool(k, false)
		return &v, err
	}
	rs.Description = str("description")
	var err error
	if active {
		a, err := optBool("active")
		if err != nil {
			return nil, err
		}
		if a != nil {
			paused := !*a
			rs.Paused = &paused
		}
	}
	if p.Has("paused") {
		if rs.Paused, err = optBool("paused"); err != nil {
			return nil, err
		}
	}
	if p.Has("tag_list") {
		rs.Tags = TagList(p.List("tag_list"))
	}
	if rs.RunUntagged, err = optBool("run_untagged"); err != nil {
		return nil, err
	}
	if rs.Locked, err = optBool("locked"); err != nil {
		return nil, err
	}
	if rs.AccessLevel = str("access_level"); rs.AccessLevel != nil && !slices.Contains(RunnerAccessLevels, *rs.AccessLevel) {
		return nil, Invalid("access_level does not have a valid value")
	}
	if p.Has("maximum_timeout") {
		// Grape coerces a blank Integer to nil, which clears the limit.
		n := int64(0)
		if strings.TrimSpace(p.Str("maximum_timeout")) != "" {
			if n, err = p.Int("maximum_timeout", 0); err != nil {
				return nil, err
			}
		}
		t := int(n)
		rs.MaximumTimeout = &t
	}
	rs.MaintenanceNote = str("maintenance_note")
	return rs, nil
}

// TagList reads tag_list as Grape's CommaSeparatedToArray coerces it: each
// element split on commas and stripped; blanks and duplicates are dropped
// as acts_as_taggable does, and the result is sorted so every path stores
// tags alike.
func TagList(vals []string) []string {
	tags := []string{}
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	slices.Sort(tags)
	return tags
}

// Apply writes the given settings onto r.
func (rs *RunnerSettings) Apply(r *Runner) {
	set(&r.Description, rs.Description)
	set(&r.Paused, rs.Paused)
	if rs.Tags != nil {
		r.Tags = rs.Tags
	}
	set(&r.RunUntagged, rs.RunUntagged)
	set(&r.Locked, rs.Locked)
	set(&r.AccessLevel, rs.AccessLevel)
	set(&r.MaximumTimeout, rs.MaximumTimeout)
	set(&r.MaintenanceNote, rs.MaintenanceNote)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
