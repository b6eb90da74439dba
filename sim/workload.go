package sim

import "math/rand/v2"

// OpKind names a scripted client operation.
type OpKind string

// The client operations. Targets (which group, which message) are resolved when the op runs,
// from what the client has learned so far, so any subsequence of a script still runs.
const (
	OpSignUp      OpKind = "signup"
	OpCreateGroup OpKind = "create_group"
	OpAddMember   OpKind = "add_member" // a group's creator adds another user (a "join")
	OpLeaveGroup  OpKind = "leave_group"
	OpSendDirect  OpKind = "dm"
	OpPost        OpKind = "post"
	OpEdit        OpKind = "edit"
	OpReact       OpKind = "react"
	OpUnreact     OpKind = "unreact"
	OpRead        OpKind = "read"
	opBootstrap   OpKind = "bootstrap" // the harness's own first command, never scripted
)

// ClientOp is one scripted operation of one client.
type ClientOp struct {
	Client int    `json:"c"`
	Kind   OpKind `json:"k"`
	// ThinkMs is the pause before the op starts.
	ThinkMs int64 `json:"t"`
	// Pick selects the op's targets among those the client knows.
	Pick uint32 `json:"p"`
}

var opWeights = []struct {
	kind   OpKind
	weight int
}{
	{OpCreateGroup, 4}, {OpAddMember, 6}, {OpLeaveGroup, 2}, {OpSendDirect, 12},
	{OpPost, 30}, {OpEdit, 8}, {OpReact, 8}, {OpUnreact, 3}, {OpRead, 27},
}

// genOps scripts each client's operations for about durationMs of simulated time.
func genOps(r *rand.Rand, clients int, durationMs int64) []ClientOp {
	total := 0
	for _, w := range opWeights {
		total += w.weight
	}
	var ops []ClientOp
	for c := 0; c < clients; c++ {
		ops = append(ops, ClientOp{Client: c, Kind: OpSignUp, ThinkMs: r.Int64N(200), Pick: r.Uint32()})
		for t := int64(0); t < durationMs; {
			think := 20 + int64(r.ExpFloat64()*280)
			t += think + 30 // an op takes a few round trips too
			x := r.IntN(total)
			kind := opWeights[0].kind
			for _, w := range opWeights {
				if x < w.weight {
					kind = w.kind
					break
				}
				x -= w.weight
			}
			ops = append(ops, ClientOp{Client: c, Kind: kind, ThinkMs: think, Pick: r.Uint32()})
		}
	}
	return ops
}
