package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

func childRunID(parent, path string, seq int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("child\x00%s\x00%s\x00%d", parent, path, seq)))
	return hex.EncodeToString(h[:12])
}
