package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed static
var staticFS embed.FS

// Static is the embedded static assets (CSS, JS, icons), rooted at the
// directory that holds them.
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// StaticVersion is a short hash of the assets, for cache-busting URLs.
var staticVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:10]
}()

// StaticPath is the URL of an embedded asset, versioned by content.
func StaticPath(name string) string { return "/static/" + name + "?v=" + staticVersion }
