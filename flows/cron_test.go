package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/weftlabs/weft/flows"
)

func cronFlow(spec string) []byte {
	return []byte(`{"name": "c", "triggers": [{"cron": "` + spec + `"}], "blocks": [{"ref": "a", "type": "lambda", "expr": "1"}]}`)
}

// Finding 6 (cron): schedules that fire more often than the floor or
// never fire are refused at /triggers/N/cron with the reason.
func TestCronTriggerRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		min  time.Duration
		want string // "" = accepted
	}{
		{"@every 1ms", 0, "fires every 1ms, more often than the allowed once every 1m0s"},
		{"@every 30s", 0, "more often than the allowed once every 1m0s"},
		{"@every 1m", 0, ""},
		{"@hourly", 0, ""},
		{"0 0 30 2 *", 0, "never fires"},
		{"0 0 31 4,6 *", 0, "never fires"},
		{"0 0 29 2 *", 0, ""}, // leap years
		{"*/2 * * * *", 5 * time.Minute, "fires 2m0s apart"},
		{"0,1 3 * * *", 5 * time.Minute, "fires 1m0s apart"},
		{"*/10 * * * *", 5 * time.Minute, ""},
		{"@every 30s", time.Second, ""},
		{"61 * * * *", 0, "invalid cron"},
	} {
		_, err := flows.ParseWith(cronFlow(tc.spec), nil, flows.ParseOptions{MinCronInterval: tc.min})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q (floor %s): refused: %v", tc.spec, tc.min, err)
			}
			continue
		}
		ps := flows.Problems(err)
		if len(ps) != 1 || ps[0].Pointer != "/triggers/0/cron" || !strings.Contains(ps[0].Msg, tc.want) {
			t.Errorf("%q (floor %s): got %v, want one problem at /triggers/0/cron containing %q", tc.spec, tc.min, err, tc.want)
		}
	}
	// A flow stored before the rules reloads as it was accepted then.
	if _, err := flows.Compile(cronFlow("@every 1ms"), nil, nil); err != nil {
		t.Fatalf("a stored flow no longer reloads: %v", err)
	}
}

func TestNextDue(t *testing.T) {
	t.Parallel()
	from := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	due, err := flows.NextDue("0 3 * * MON", from, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2030-01-07T03:00:00Z", "2030-01-14T03:00:00Z", "2030-01-21T03:00:00Z"}
	if len(due) != 3 {
		t.Fatalf("due = %v", due)
	}
	for i, d := range due {
		if d.Format(time.RFC3339) != want[i] {
			t.Fatalf("due = %v, want %v", due, want)
		}
	}
	if due, _ := flows.NextDue("0 0 30 2 *", from, 3); len(due) != 0 {
		t.Fatalf("February 30th is due at %v", due)
	}
}
