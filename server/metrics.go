package server

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weftlabs/weft/engine"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	taskDur  *prometheus.HistogramVec
	claim    prometheus.Histogram

	mu      sync.Mutex
	handout map[string]time.Time // task id -> when a poll handed it out
}

// maxTracked bounds the hand-out times kept for the task latency.
const maxTracked = 10000

func newMetrics(reg *prometheus.Registry, eng Engine) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_http_requests_total", Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weft_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		taskDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weft_step_duration_seconds", Help: "Time from a worker claiming a task to its report, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"outcome"}),
		claim: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_claim_latency_seconds", Help: "Time a worker's poll parked before it was answered with tasks.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		handout: map[string]time.Time{},
	}
	reg.MustRegister(m.requests, m.latency, m.taskDur, m.claim)
	if eng != nil {
		reg.MustRegister(&statsCollector{eng: eng})
	}
	return m
}

// observe counts every request; it is the outermost middleware.
func (m *metrics) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		code := strconv.Itoa(c.Response().Status)
		m.requests.WithLabelValues(c.Request().Method, route, code).Inc()
		m.latency.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

func (m *metrics) polled(tasks []engine.Task, waited time.Duration) {
	if len(tasks) == 0 {
		return
	}
	m.claim.Observe(waited.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for _, t := range tasks {
		if len(m.handout) >= maxTracked {
			for id, at := range m.handout {
				if now.Sub(at) > time.Hour || len(m.handout) >= maxTracked {
					delete(m.handout, id)
				}
			}
		}
		m.handout[t.ID] = now
	}
}

func (m *metrics) reported(taskID, outcome string) {
	m.mu.Lock()
	at, ok := m.handout[taskID]
	delete(m.handout, taskID)
	m.mu.Unlock()
	if ok {
		m.taskDur.WithLabelValues(outcome).Observe(time.Since(at).Seconds())
	}
}

// statsCollector reads run, step and queue counts from the engine at scrape.
type statsCollector struct{ eng Engine }

var (
	runsDesc  = prometheus.NewDesc("weft_runs", "Runs by status.", []string{"status"}, nil)
	stepsDesc = prometheus.NewDesc("weft_steps", "Steps by status.", []string{"status"}, nil)
	queueDesc = prometheus.NewDesc("weft_queue_depth", "Tasks waiting to be claimed, by queue.", []string{"queue"}, nil)
	upDesc    = prometheus.NewDesc("weft_stats_up", "1 when the engine's statistics could be read.", nil, nil)
)

func (sc *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- stepsDesc
	ch <- queueDesc
	ch <- upDesc
}

func (sc *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := sc.eng.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	for s, n := range st.RunsByStatus {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(n), string(s))
	}
	for s, n := range st.StepsByStatus {
		ch <- prometheus.MustNewConstMetric(stepsDesc, prometheus.GaugeValue, float64(n), string(s))
	}
	for q, n := range st.QueueDepths {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), q)
	}
}

// getMetrics serves the Prometheus text format.
func (s *Server) getMetrics(c echo.Context) error {
	promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}
