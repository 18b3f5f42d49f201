// Package e2e holds tests that drive real `weft serve` processes over HTTP:
// crashes with kill -9, several replicas on one PostgreSQL, the path that
// `make run` takes, and command blocks run by real `weft worker` processes
// (their child processes checked in /proc). It has no non-test code
// besides this comment.
package e2e
