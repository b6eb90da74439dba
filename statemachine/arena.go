package statemachine

// textArena stores the texts of one conversation's messages back to back in byte chunks, so a
// message holds a small pointer-free textRef instead of a string. A million stored messages are
// then a pointer-free slice the garbage collector never scans, plus a few thousand chunks.
// Chunks start small (a direct conversation with three messages costs a few hundred bytes) and
// double up to maxArenaChunk. Bytes once written are never modified; an edit appends the new
// text and a delete drops the reference, leaving the old bytes unreachable until the next
// Restore compacts them (the snapshot encodes live texts only).
type textArena struct {
	chunks [][]byte
}

// textRef locates one text in a textArena; the zero value is the empty text.
type textRef struct {
	chunk, off, n uint32
}

const (
	minArenaChunk = 256
	maxArenaChunk = 64 << 10
)

// add copies s into the arena and returns its reference.
func (a *textArena) add(s []byte) textRef {
	if len(s) == 0 {
		return textRef{}
	}
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+len(s) > cap(a.chunks[last]) {
		size := minArenaChunk
		if last >= 0 {
			size = min(2*cap(a.chunks[last]), maxArenaChunk)
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(size, len(s))))
		last++
	}
	off := len(a.chunks[last])
	a.chunks[last] = append(a.chunks[last], s...)
	return textRef{chunk: uint32(last), off: uint32(off), n: uint32(len(s))}
}

// bytes returns the text of r; the caller must not modify it.
func (a *textArena) bytes(r textRef) []byte {
	if r.n == 0 {
		return nil
	}
	return a.chunks[r.chunk][r.off : r.off+r.n]
}

// str returns a copy of the text of r.
func (a *textArena) str(r textRef) string { return string(a.bytes(r)) }
