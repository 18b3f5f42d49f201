// Package ui holds Weft's server-rendered web pages: templ components, the
// plain view-model structs they take, the server-side flow graph layout and
// the embedded static assets. It reads engine and flows types and nothing
// else of Weft's; the server builds the view models and renders them.
package ui
