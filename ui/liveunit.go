package ui

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/url"
	"strconv"

	"github.com/a-h/templ"
)

// The run page refreshes its live part every 1.5 s while the run is live.
// To send only what changed, the live part is cut into units: the header,
// each graph node, the graph's edges, each step, each timeline row, the
// input and output. A unit carries its key and the hash of its HTML
// (data-lk, data-lh). The browser sends back the units it holds
// (X-Weft-Have, a query string of key=hash) and the last history event it
// shows (X-Weft-Events); the server answers a unit whose hash the browser
// already has with a placeholder (data-keep=KEY) that the browser fills
// with the element it holds, and the history with only the events after
// that one (at most liveEventRows). Steps the page shows closed
// (X-Weft-Open lists the open ones) come without their bodies. The frame
// around the units is always sent; it is small.

// LiveState is what the browser already shows, for one live refresh.
type LiveState struct {
	Have        map[string]string // unit key -> hash of its HTML
	EventsAfter int64             // the last history event it shows
	Open        map[string]bool   // the steps it shows open, by path
	// Refresh is set for a live refresh; a run page's first load renders
	// with a LiveState too (so its units carry keys and hashes), unset.
	Refresh bool
}

type liveKey struct{}

// WithLive returns ctx carrying st for the units rendered with it.
func WithLive(ctx context.Context, st *LiveState) context.Context {
	return context.WithValue(ctx, liveKey{}, st)
}

func liveState(ctx context.Context) *LiveState {
	st, _ := ctx.Value(liveKey{}).(*LiveState)
	return st
}

// ParseLiveState reads the headers of a live refresh. Malformed values
// are ignored: the answer is then the whole live part, which is always
// correct.
func ParseLiveState(have, events, open string) *LiveState {
	st := &LiveState{Have: map[string]string{}, Open: map[string]bool{}, Refresh: true}
	if v, err := url.ParseQuery(open); err == nil {
		for _, p := range v["step"] {
			st.Open[p] = true
		}
	}
	if v, err := url.ParseQuery(have); err == nil {
		for k, hs := range v {
			if len(hs) > 0 {
				st.Have[k] = hs[0]
			}
		}
	}
	if n, err := strconv.ParseInt(events, 10, 64); err == nil && n > 0 {
		st.EventsAfter = n
	}
	return st
}

// stepBodyShown says whether a step's body (times, input and output,
// artifacts, log, attempts) is rendered. A live refresh sends it only for
// the steps the page shows open; a closed step gets an empty body that
// the page asks for when it is opened. The page's first load has them all,
// so it works without scripts.
func stepBodyShown(ctx context.Context, path string) bool {
	if ctx.Value(closedKey{}) != nil {
		return false
	}
	st := liveState(ctx)
	return st == nil || !st.Refresh || st.Open[path]
}

// eventsAfter is the first history event a live refresh must send.
func eventsAfter(ctx context.Context) int64 {
	if st := liveState(ctx); st != nil && st.Refresh {
		return st.EventsAfter
	}
	return 0
}

// liveUnit renders inner, a single element, with data-lk=key and
// data-lh=hash of its HTML added to that element; or, when the browser
// already holds that exact HTML, as a placeholder <tag data-keep=key>
// (tag is "div", or "g" inside the graph's SVG, where the HTML parser
// would not keep a div).
func liveUnit(tag, key string, inner templ.Component) templ.Component {
	return liveUnitHashed(tag, key, inner, nil)
}

// closedKey marks a render of steps with their bodies left out.
type closedKey struct{}

// liveStepUnit is a step's unit. A page's first load renders every step
// with its body (so the page works without scripts) and carries two
// hashes: data-lh, of the step as a refresh renders it closed, and
// data-lhb, of the step with its body. The page sends the first while the
// step is closed and the second once it is opened, so neither the first
// refresh nor opening a step sends it again unless it changed. When a
// step whose body was left out is opened, the page refreshes at once.
func liveStepUnit(key string, inner templ.Component) templ.Component {
	return liveUnitHashed("div", key, inner, func(ctx context.Context, whole string) (string, string, error) {
		if st := liveState(ctx); st == nil || st.Refresh {
			return "", "", nil
		}
		var b bytes.Buffer
		if err := inner.Render(context.WithValue(ctx, closedKey{}, true), &b); err != nil {
			return "", "", err
		}
		return textHash(b.String()), whole, nil
	})
}

// liveIOUnit is the run's input and output. A refresh leaves large JSON
// out (DeferLargeJSON) while the first load shows it; the first load is
// hashed as the refresh renders it, so the refresh does not send it again.
func liveIOUnit(d RunData) templ.Component {
	return liveUnitHashed("div", "io", runIO(d), func(ctx context.Context, _ string) (string, string, error) {
		if st := liveState(ctx); st == nil || st.Refresh {
			return "", "", nil
		}
		dd := d
		dd.Steps = nil // shared with d; only the run's own input and output are needed
		DeferLargeJSON(&dd)
		var b bytes.Buffer
		if err := runIO(dd).Render(ctx, &b); err != nil {
			return "", "", err
		}
		return textHash(b.String()), "", nil
	})
}

// liveUnitHashed is liveUnit with the hash it carries taken from hashOf
// when that answers one (given the hash of the HTML rendered), and a
// second hash (data-lhb) when it answers that too. A refresh compares
// what the page holds with the hash of the HTML it renders.
func liveUnitHashed(tag, key string, inner templ.Component, hashOf func(ctx context.Context, whole string) (lh, lhb string, err error)) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		var buf bytes.Buffer
		if err := inner.Render(ctx, &buf); err != nil {
			return err
		}
		b := buf.Bytes()
		st := liveState(ctx)
		if st == nil { // not a run page: no units
			_, err := w.Write(b)
			return err
		}
		whole := textHash(buf.String())
		h, hb := "", ""
		if hashOf != nil {
			var err error
			if h, hb, err = hashOf(ctx, whole); err != nil {
				return err
			}
		}
		if h == "" {
			h = whole
		}
		k := html.EscapeString(key)
		if st.Refresh && st.Have[key] == whole {
			_, err := io.WriteString(w, "<"+tag+` data-keep="`+k+`"></`+tag+">")
			return err
		}
		// After the root element's name: "<details" + attrs.
		at := bytes.IndexAny(b, " >")
		if len(b) == 0 || b[0] != '<' || at < 0 {
			return fmt.Errorf("live unit %q: its HTML does not start with an element", key)
		}
		if _, err := w.Write(b[:at]); err != nil {
			return err
		}
		attrs := ` data-lk="` + k + `" data-lh="` + h + `"`
		if hb != "" {
			attrs += ` data-lhb="` + hb + `"`
		}
		if _, err := io.WriteString(w, attrs); err != nil {
			return err
		}
		_, err := w.Write(b[at:])
		return err
	})
}

// lastSeq is the last event's number, for data-events-seq.
func lastSeq(evs []EventView) string {
	if len(evs) == 0 {
		return "0"
	}
	return strconv.FormatInt(evs[len(evs)-1].Seq, 10)
}

// liveEventRows is the most history rows one live refresh appends: a run
// that records more between two refreshes gets the newest ones and a row
// saying how many were left out (the page's next load shows them all).
const liveEventRows = 20

// EventsWindow is the history rows a render shows.
type EventsWindow struct {
	Rows             []EventView
	Skipped          int
	SkipFrom, SkipTo int64 // the numbers of the events left out
}

// eventsWindow is every event for a page load, and the events after the
// browser's last one (at most liveEventRows) for a live refresh.
func eventsWindow(ctx context.Context, evs []EventView) EventsWindow {
	after := eventsAfter(ctx)
	if after <= 0 {
		return EventsWindow{Rows: evs}
	}
	i := len(evs)
	for i > 0 && evs[i-1].Seq > after {
		i--
	}
	w := EventsWindow{Rows: evs[i:]}
	if n := len(w.Rows); n > liveEventRows {
		w.Skipped = n - liveEventRows
		w.SkipFrom, w.SkipTo = w.Rows[0].Seq, w.Rows[w.Skipped-1].Seq
		w.Rows = w.Rows[w.Skipped:]
	}
	return w
}

// canRerun says whether the run's steps offer "rerun from here": not while
// the run goes on. The steps' links are always rendered and the steps'
// section shows or hides them (data-rerun), so a step's HTML does not
// change, nor is it sent again, when its run ends.
func canRerun(d RunData) bool {
	return d.Run.Status != "running" && d.Run.Status != "waiting"
}
