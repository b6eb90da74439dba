package election

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
)

// Series is one CDF line of a plot.
type Series struct {
	Label  string
	Points []Point
}

// palette holds distinguishable line colors, reused in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// Plot geometry, in SVG user units.
const (
	plotW, plotH             = 720.0, 420.0
	marginL, marginR         = 70.0, 190.0
	marginT, marginB         = 30.0, 55.0
	innerW, innerH           = plotW - marginL - marginR, plotH - marginT - marginB
	maxXTicks                = 10
	svgHeader                = `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">` + "\n"
	gridStyle                = `stroke="#ddd" stroke-width="1"`
	axisStyle                = `stroke="#000" stroke-width="1"`
	defaultTitle             = "Time without leader after the leader crashes (CDF)"
	xLabel, yLabel           = "time without leader (ms)", "cumulative percent of trials"
	legendDX, legendRowH     = 16.0, 18.0
	minXRangeMs, xPadPercent = 10.0, 0.02
)

// Plot describes one figure.
type Plot struct {
	// Title defaults to a description of the experiment.
	Title  string
	Series []Series
	// XMaxMs bounds the time axis (0: the largest time in the data); lines running past it
	// are clipped at the edge.
	XMaxMs float64
	// LogX draws the time axis logarithmically, as the top graph of the paper's Figure 16
	// does, so split-vote tails of several seconds fit next to 150 ms outages.
	LogX bool
}

// axis maps milliseconds to the horizontal plot coordinate.
type axis struct {
	lo, hi float64
	log    bool
}

func (a axis) x(ms float64) float64 {
	if a.log {
		ms = math.Max(ms, a.lo)
		return marginL + (math.Log10(ms)-math.Log10(a.lo))/(math.Log10(a.hi)-math.Log10(a.lo))*innerW
	}
	return marginL + (ms-a.lo)/(a.hi-a.lo)*innerW
}

// WriteSVG draws the CDFs of p as step lines and writes a standalone SVG document.
func WriteSVG(w io.Writer, p Plot) error {
	title, series := p.Title, p.Series
	if title == "" {
		title = defaultTitle
	}
	ax := xAxis(series, p.XMaxMs, p.LogX)
	bw := bufio.NewWriter(w)
	// bufio.Writer errors are sticky: Flush reports the first one.
	pr := func(format string, args ...any) { _, _ = fmt.Fprintf(bw, format, args...) }
	pr(svgHeader, plotW, plotH, plotW, plotH)
	pr(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	pr(`<text x="%.1f" y="18" text-anchor="middle" font-size="14">%s</text>`+"\n", marginL+innerW/2, html.EscapeString(title))
	writeAxes(pr, ax)
	pr(`<clipPath id="plot"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath>`+"\n",
		marginL, marginT-1, innerW, innerH+2)
	for k, s := range series {
		color := palette[k%len(palette)]
		pr(`<path clip-path="url(#plot)" fill="none" stroke="%s" stroke-width="1.5" d="%s"/>`+"\n", color, stepPath(s.Points, ax))
		y := marginT + 10 + float64(k)*legendRowH
		x := marginL + innerW + 15
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", x, y, x+legendDX, y, color)
		pr(`<text x="%.1f" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", x+legendDX+6, y, html.EscapeString(s.Label))
	}
	pr("</svg>\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// xAxis picks the time axis: from a round number below the smallest time to xMaxMs (or
// the largest time), with some room on each side; a log axis spans whole decades.
func xAxis(series []Series, xMaxMs float64, logX bool) axis {
	lo, hi := math.Inf(1), 0.0
	for _, s := range series {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, p.Ms), math.Max(hi, p.Ms)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 100
	}
	if xMaxMs > 0 {
		hi = xMaxMs
	}
	if logX {
		lo = math.Pow(10, math.Floor(math.Log10(math.Max(lo, 1))))
		hi = math.Pow(10, math.Ceil(math.Log10(math.Max(hi, lo*10))))
		return axis{lo: lo, hi: hi, log: true}
	}
	step := niceStep((hi - lo) / maxXTicks)
	lo = math.Max(0, math.Floor(lo/step)*step)
	hi = math.Max(lo+minXRangeMs, math.Ceil(hi*(1+xPadPercent)/step)*step)
	return axis{lo: lo, hi: hi}
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func sy(frac float64) float64 { return marginT + (1-frac)*innerH }

// xTicks lists the labelled positions of the time axis: round steps, or 1-2-5 per decade.
func xTicks(ax axis) []float64 {
	var ts []float64
	if ax.log {
		for d := ax.lo; d <= ax.hi*1.0001; d *= 10 {
			for _, m := range []float64{1, 2, 5} {
				if m*d <= ax.hi*1.0001 {
					ts = append(ts, m*d)
				}
			}
		}
		return ts
	}
	step := niceStep((ax.hi - ax.lo) / maxXTicks)
	for x := ax.lo; x <= ax.hi+step/1e6; x += step {
		ts = append(ts, x)
	}
	return ts
}

func writeAxes(pr func(string, ...any), ax axis) {
	for _, x := range xTicks(ax) {
		px := ax.x(x)
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s/>`+"\n", px, marginT, px, marginT+innerH, gridStyle)
		pr(`<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", px, marginT+innerH+16, x)
	}
	for pct := 0; pct <= 100; pct += 20 {
		py := sy(float64(pct) / 100)
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s/>`+"\n", marginL, py, marginL+innerW, py, gridStyle)
		pr(`<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%d%%</text>`+"\n", marginL-6, py, pct)
	}
	pr(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" %s/>`+"\n", marginL, marginT, innerW, innerH, axisStyle)
	pr(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", marginL+innerW/2, plotH-12, xLabel)
	pr(`<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", marginT+innerH/2, yLabel)
}

// stepPath draws an empirical CDF as a staircase starting at 0%.
func stepPath(pts []Point, ax axis) string {
	if len(pts) == 0 {
		return ""
	}
	b := make([]byte, 0, 24*len(pts))
	b = fmt.Appendf(b, "M%.1f %.1f", ax.x(math.Max(ax.lo, pts[0].Ms)), sy(0))
	prev := 0.0
	for _, p := range pts {
		x := ax.x(p.Ms)
		b = fmt.Appendf(b, " L%.1f %.1f L%.1f %.1f", x, sy(prev), x, sy(p.Fraction))
		prev = p.Fraction
	}
	b = fmt.Appendf(b, " L%.1f %.1f", ax.x(ax.hi)+1, sy(prev))
	return string(b)
}
