package testenv

import "go.uber.org/goleak"

// FasthttpLeaks are the goleak options of packages whose tests serve HTTP
// with fiber: two fasthttp goroutines outlive a clean shutdown and no API
// stops them. The process-wide clock behind the Date header
// (updateServerDate) runs forever once started; the worker pool's cleaner
// notices Stop only after its sleep of MaxIdleWorkerDuration (10 s).
// Everything else a server runs (its listener loop, its workers) is still
// checked.
func FasthttpLeaks() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}
