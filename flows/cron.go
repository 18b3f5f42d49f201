package flows

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DefaultMinCronInterval is the shortest time allowed between two firings
// of a cron trigger unless ParseOptions say otherwise: once a minute, the
// finest a five-field schedule can express.
const DefaultMinCronInterval = time.Minute

// ParseOptions tune what Parse accepts.
type ParseOptions struct {
	// MinCronInterval is the shortest time allowed between two firings of
	// a cron trigger (DefaultMinCronInterval when zero). "@every 1ms"
	// would otherwise start a run every second, 86,400 a day.
	MinCronInterval time.Duration
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.MinCronInterval <= 0 {
		o.MinCronInterval = DefaultMinCronInterval
	}
	return o
}

// cronSamples is how many firings CheckCron looks at to find the shortest
// gap of a five-field schedule.
const cronSamples = 600

// CheckCron parses a cron trigger's schedule and says why it is refused:
// it does not parse, it never fires (such as "0 0 30 2 *", February 30th),
// or it fires more often than once per min. from is where the search for
// firings starts.
func CheckCron(spec string, from time.Time, min time.Duration) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron %q: %s; write five fields (minute hour day-of-month month day-of-week, such as \"0 3 * * MON\") or a descriptor such as \"@daily\" or \"@every 1h\"", spec, err)
	}
	if rest, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err == nil && d < min {
			return nil, fmt.Errorf("cron %q fires every %s, more often than the allowed once every %s; use \"@every %s\" or longer", spec, d, min, min)
		}
		return sched, nil
	}
	first := sched.Next(from)
	if first.IsZero() {
		return nil, fmt.Errorf("cron %q never fires: no date in the next five years matches it (is the day of the month in that month?); fix the day or month", spec)
	}
	prev := first
	for i := 0; i < cronSamples; i++ {
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		if gap := next.Sub(prev); gap < min {
			return nil, fmt.Errorf("cron %q fires %s apart (at %s and %s), more often than the allowed once every %s; fire less often",
				spec, gap, prev.UTC().Format("15:04"), next.UTC().Format("15:04"), min)
		}
		prev = next
	}
	return sched, nil
}

// NextDue lists the next n due times of a cron schedule after from, in
// UTC (the zone Weft's cron loop uses); fewer when it fires less.
func NextDue(spec string, from time.Time, n int) ([]time.Time, error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	t := from.UTC()
	for range n {
		t = sched.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, nil
}
