package linearize

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Recorder collects a client history in virtual time. It is not safe for concurrent use
// (the simulator is single-threaded).
//
// It keeps each operation's input and outcome by value and hands porcupine pointers to them
// (see operations): boxing an Input or an Output into an interface allocates, and Call and
// Return run for every client operation of a run.
type Recorder struct {
	recs        []recorded
	perConv     map[string]int
	annotations []porcupine.Annotation
}

// recorded is one operation; returned is false while its outcome is unknown (out then holds
// Status unknown and ret math.MaxInt64).
type recorded struct {
	client    int
	in        Input
	out       Output
	call, ret int64
	returned  bool
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{perConv: make(map[string]int)}
}

// Grow makes room for n more operations, for a caller that knows about how many it will
// record (fewer regrowths of the history).
func (r *Recorder) Grow(n int) { r.recs = slices.Grow(r.recs, n) }

// Call records that client (a small non-negative number, one per simulated client) invoked
// in at virtual time nowNs, and returns the operation's id for Return. A client retrying a
// command with the same request id is still one operation: call Return once, with the
// outcome of the attempt that finally answered.
func (r *Recorder) Call(client int, in Input, nowNs int64) int {
	id := len(r.recs)
	r.recs = append(r.recs, recorded{client: client, in: in, out: Output{Status: unknown},
		call: nowNs, ret: math.MaxInt64})
	r.perConv[in.Conv]++
	return id
}

// Return records the definite outcome of operation id at virtual time nowNs. Operations
// never returned stay pending to the end of time: porcupine may place their effect anywhere
// after the call, or nowhere. Returning twice, or before the call, panics (a harness bug).
// The Recorder keeps out.Messages and their Reactions (it sorts each message's reactions in
// place) instead of copying them: the caller must not modify them afterwards.
func (r *Recorder) Return(id int, out Output, nowNs int64) {
	if id < 0 || id >= len(r.recs) || r.recs[id].returned {
		panic(fmt.Sprintf("linearize: Return of unknown or already returned operation %d", id))
	}
	rec := &r.recs[id]
	if nowNs < rec.call {
		panic(fmt.Sprintf("linearize: operation %d returns at %d before its call at %d", id, nowNs, rec.call))
	}
	for i := range out.Messages {
		sortReactions(out.Messages[i].Reactions)
	}
	rec.out, rec.ret, rec.returned = out, nowNs, true
}

// OpsIn returns how many operations were called in conv so far; a workload can use it to
// move on to a fresh conversation before the partition bound is reached.
func (r *Recorder) OpsIn(conv string) int { return r.perConv[conv] }

// Counts returns the number of operations called, returned with a definite outcome, and
// pending (unknown outcome).
func (r *Recorder) Counts() (calls, returned, pending int) {
	for i := range r.recs {
		if r.recs[i].returned {
			returned++
		}
	}
	return len(r.recs), returned, len(r.recs) - returned
}

// Annotation marks a fault or a leader change on the visualization's timeline.
type Annotation struct {
	// Tag is the row it appears on, such as "faults" or "leader".
	Tag         string
	StartNs     int64
	EndNs       int64 // 0 or < StartNs: a point in time
	Description string
	Details     string
	// Color is an optional CSS background color.
	Color string
}

// Annotate adds a to the visualization.
func (r *Recorder) Annotate(a Annotation) {
	r.annotations = append(r.annotations, porcupine.Annotation{
		Tag: a.Tag, Start: a.StartNs, End: max(a.EndNs, a.StartNs),
		Description: a.Description, Details: a.Details, BackgroundColor: a.Color,
	})
}

// Operations returns the history recorded so far as porcupine sees it: each Input is an
// *Input and each Output an *Output, pointing into the Recorder (do not modify them).
func (r *Recorder) Operations() []porcupine.Operation { return r.operations() }

// operations builds porcupine's history with pointers to the records' inputs and outputs,
// which box into an interface without allocating.
func (r *Recorder) operations() []porcupine.Operation {
	ops := make([]porcupine.Operation, len(r.recs))
	for i := range r.recs {
		rec := &r.recs[i]
		ops[i] = porcupine.Operation{ClientId: rec.client, Input: &rec.in, Call: rec.call,
			Output: &rec.out, Return: rec.ret}
	}
	return ops
}

// Options tune Check. Zero fields take the defaults.
type Options struct {
	// Timeout bounds porcupine's search (wall clock). Default 10s. Running out of time is a
	// failure: the result is Unknown, and Unknown is not OK.
	Timeout time.Duration
	// MaxOpsPerConv bounds each conversation's history, which keeps the NP-hard search
	// tractable. A larger partition fails the check with an error. Default 500.
	MaxOpsPerConv int
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxOpsPerConv <= 0 {
		o.MaxOpsPerConv = 500
	}
	return o
}

// Result is the outcome of Check.
type Result struct {
	// Outcome is porcupine's verdict: Ok, Illegal, or Unknown (timed out).
	Outcome porcupine.CheckResult
	// OK is true only for a porcupine Ok within the partition bound.
	OK bool
	// Err says why OK is false when the bound, not porcupine, failed the check.
	Err error
	// Conversations is the number of partitions; Largest the size of the biggest.
	Conversations, Largest int
	// Ops, Pending: operations checked and those with an unknown outcome.
	Ops, Pending int
}

// Check runs porcupine over the recorded history, one partition per conversation.
func (r *Recorder) Check(opts Options) Result {
	opts = opts.withDefaults()
	_, _, pending := r.Counts()
	res := Result{Ops: len(r.recs), Pending: pending, Conversations: len(r.perConv)}
	convs := make([]string, 0, len(r.perConv))
	for c := range r.perConv {
		convs = append(convs, c)
	}
	sort.Strings(convs)
	for _, c := range convs {
		if n := r.perConv[c]; n > res.Largest {
			res.Largest = n
			if n > opts.MaxOpsPerConv {
				res.Err = fmt.Errorf("conversation %q has %d operations, bound %d", c, n, opts.MaxOpsPerConv)
			}
		}
	}
	res.Outcome = porcupine.CheckOperationsTimeout(Model(), r.operations(), opts.Timeout)
	res.OK = res.Outcome == porcupine.Ok && res.Err == nil
	return res
}

// Visualize re-runs the check with porcupine's bookkeeping on and writes its HTML
// visualization, with the annotations, to path.
func (r *Recorder) Visualize(path string, opts Options) error {
	opts = opts.withDefaults()
	model := Model()
	_, info := porcupine.CheckOperationsVerbose(model, r.operations(), opts.Timeout)
	info.AddAnnotations(r.annotations)
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return fmt.Errorf("write porcupine visualization %s: %w", path, err)
	}
	return nil
}
