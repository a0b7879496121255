package playbooks

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day is the length of the `d` duration unit. Playbooks mean calendar-free days (hold a failed run 7d),
// so a day is 24 hours, never adjusted for DST.
const Day = 24 * time.Hour

// ParseDuration parses a playbook duration: Go syntax (90s, 15m, 1h30m) optionally led by a whole number of
// days (30d, 1d12h). Go's own parser has no day unit, and retention-like values read badly in hours.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty duration")
	}
	neg := false
	rest := in
	if rest[0] == '-' || rest[0] == '+' {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	var days time.Duration
	hasDays := false
	if i > 0 && i < len(rest) && rest[i] == 'd' {
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n > int64(math.MaxInt64/int64(Day)) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		days = time.Duration(n) * Day
		hasDays = true
		rest = rest[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		// "1d-2h" or "1d+2h" would parse as a sum with a sign in the middle; refuse it as a typo.
		if days > 0 && (rest[0] == '-' || rest[0] == '+') {
			return 0, fmt.Errorf("duration %q has a sign in the middle", s)
		}
		if days > 0 && d > time.Duration(math.MaxInt64)-days {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
	} else if !hasDays {
		return 0, fmt.Errorf("duration %q has no value", s)
	}
	d += days
	if neg {
		d = -d
	}
	return d, nil
}
