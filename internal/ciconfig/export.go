package ciconfig

import (
	"fmt"
	"time"
)

// ParseDuration reads a GitLab duration ("30 minutes", "1h 30m", "90") as
// start_in, timeout and expire_in accept it.
func ParseDuration(s string) (time.Duration, error) {
	secs, ok := parseDuration(s)
	if !ok {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return time.Duration(secs) * time.Second, nil
}
