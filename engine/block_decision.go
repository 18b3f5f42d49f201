package engine

import (
	"sort"

	"github.com/weftlabs/weft/flows"
)

// skipOthers marks the blocks of the cases a decision did not take.
func (d *decider) skipOthers(n *flows.Node, chosen string, sc *scope) {
	_, isCase := n.Cases[chosen]
	names := make([]string, 0, len(n.Cases))
	for k := range n.Cases {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if isCase && k == chosen {
			continue
		}
		d.skipSeq(n.Cases[k], sc)
	}
	if isCase {
		d.skipSeq(n.Default, sc)
	}
}
