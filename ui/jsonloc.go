package ui

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// PointerLines maps every JSON pointer in text to the 1-based line and
// column where its value starts. Invalid JSON yields what was read so far.
func PointerLines(text []byte) map[string][2]int {
	out := map[string][2]int{}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	type frame struct {
		array bool
		index int
		key   string
		ptr   string
	}
	var stack []frame
	pos := func(off int64) [2]int {
		// the decoder's offset is after the token; step back over it
		o := int(off)
		if o > len(text) {
			o = len(text)
		}
		line := 1 + bytes.Count(text[:o], []byte("\n"))
		col := o - bytes.LastIndexByte(text[:o], '\n')
		return [2]int{line, col}
	}
	childPtr := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := &stack[len(stack)-1]
		if top.array {
			p := top.ptr + "/" + strconv.Itoa(top.index)
			top.index++
			return p
		}
		return top.ptr + "/" + escapePointer(top.key)
	}
	expectKey := func() bool {
		return len(stack) > 0 && !stack[len(stack)-1].array && stack[len(stack)-1].key == ""
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		// skip whitespace, ':' and ',' to the token's first byte
		s := int(start)
		for s < len(text) && strings.ContainsRune(" \t\r\n:,", rune(text[s])) {
			s++
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && !stack[len(stack)-1].array {
				stack[len(stack)-1].key = ""
			}
			continue
		}
		if k, ok := tok.(string); ok && expectKey() {
			stack[len(stack)-1].key = k
			continue
		}
		ptr := childPtr()
		if _, seen := out[ptr]; !seen {
			out[ptr] = pos(int64(s))
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{array: d == '[', ptr: ptr})
			continue
		}
		if len(stack) > 0 && !stack[len(stack)-1].array {
			stack[len(stack)-1].key = ""
		}
	}
}

// LocatePointer finds the line of ptr in text, falling back to the nearest
// enclosing pointer that exists (a missing key is reported on its parent).
func LocatePointer(lines map[string][2]int, ptr string) (line, col int) {
	for {
		if lc, ok := lines[ptr]; ok {
			return lc[0], lc[1]
		}
		i := strings.LastIndexByte(ptr, '/')
		if i < 0 {
			return 0, 0
		}
		ptr = ptr[:i]
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
