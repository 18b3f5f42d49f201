// Package e2e holds tests that drive real `weft serve` processes over HTTP:
// crashes with kill -9, several replicas on one PostgreSQL, and the path
// that `make run` takes. It has no non-test code besides this comment.
package e2e
