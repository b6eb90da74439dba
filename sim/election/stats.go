package election

import (
	"math"
	"slices"
	"time"
)

// Point is one point of a CDF: Fraction of the trials had a time without a leader of at
// most Ms milliseconds.
type Point struct {
	Ms       float64 `json:"ms"`
	Fraction float64 `json:"fraction"`
}

// Result summarises the trials of one configuration.
type Result struct {
	Trials   int     `json:"trials"`
	MedianMs float64 `json:"median_ms"`
	MeanMs   float64 `json:"mean_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	// MinMs is the shortest outage seen.
	MinMs float64 `json:"min_ms"`
	// Capped counts trials that hit Config.MaxOutage (counted as MaxOutage).
	Capped int `json:"capped"`
	// Unstable counts trials (included in Capped) in which no leader held on long enough
	// to be crashed: election timeouts too close to the broadcast time.
	Unstable int `json:"unstable"`
	// CDF has one point per distinct outage, at most 1000 points (evenly thinned).
	CDF []Point `json:"cdf"`
	// Elections is the mean number of elections (terms started) per trial after the crash:
	// 1 means no split vote.
	Elections float64 `json:"elections"`
}

// summarize turns per-trial outages into a Result.
func summarize(outages []time.Duration, elections int) Result {
	ms := make([]float64, len(outages))
	sum := 0.0
	for i, d := range outages {
		ms[i] = float64(d) / float64(time.Millisecond)
		sum += ms[i]
	}
	slices.Sort(ms)
	n := len(ms)
	if n == 0 {
		return Result{}
	}
	return Result{
		Trials:    n,
		MedianMs:  round3(quantile(ms, 0.5)),
		MeanMs:    round3(sum / float64(n)),
		P99Ms:     round3(quantile(ms, 0.99)),
		MaxMs:     round3(ms[n-1]),
		MinMs:     round3(ms[0]),
		CDF:       cdf(ms, 1000),
		Elections: round3(float64(elections) / float64(n)),
	}
}

// quantile is the nearest-rank quantile of sorted xs.
func quantile(xs []float64, q float64) float64 {
	k := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(k, len(xs)-1))]
}

// cdf returns the empirical CDF of sorted xs, thinned to at most limit points (the last
// point, fraction 1, is always kept).
func cdf(xs []float64, limit int) []Point {
	var pts []Point
	for i := range xs {
		if i+1 < len(xs) && xs[i+1] == xs[i] {
			continue
		}
		pts = append(pts, Point{Ms: round3(xs[i]), Fraction: round3(float64(i+1) / float64(len(xs)))})
	}
	if len(pts) <= limit {
		return pts
	}
	thin := make([]Point, 0, limit)
	for k := 0; k < limit; k++ {
		thin = append(thin, pts[(k+1)*len(pts)/limit-1])
	}
	return thin
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
