package ui

import (
	"hash/fnv"
	"net/url"
	"strconv"
)

func textHash(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return strconv.FormatUint(h.Sum64(), 36)
}

// JSONHref is where a run's (step "") or a step's input or output is
// served as text.
func JSONHref(runID, step, part string) string {
	v := url.Values{"part": {part}}
	if step != "" {
		v.Set("step", step)
	}
	return RunHref(runID) + "/json?" + v.Encode()
}

// DeferLargeJSON leaves the text of large inputs and outputs out of the
// run page's live part: the page keeps what it already shows (same
// hash) and fetches the rest when it is opened. The live refresh then
// carries what changes (statuses, times, small values), not the data.
func DeferLargeJSON(d *RunData) {
	deferOne := func(j *JSONView, step, part string) {
		if j.Large && !j.Empty() {
			j.Src = JSONHref(d.Run.ID, step, part)
			if j.Full != "" {
				j.Src += "&max=" + strconv.Itoa(MaxShownJSON)
			}
			j.Text = ""
		}
	}
	deferOne(&d.Input, "", "input")
	deferOne(&d.Output, "", "output")
	for i := range d.Steps {
		s := &d.Steps[i]
		deferOne(&s.Input, s.Path, "input")
		deferOne(&s.Output, s.Path, "output")
	}
}
