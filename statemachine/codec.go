package statemachine

import (
	"encoding/binary"
	"errors"
	"math"
)

// enc is a snapshot being encoded; its methods append the primitive values of the format
// (unsigned varints, zig-zag varints, length-prefixed bytes and strings) and return the
// longer encoding: e = e.u(v). It is a plain byte slice passed by value, so the encoder
// keeps it in locals and never stores a pointer into the heap (no GC write barriers on the
// hot path of a large snapshot).
type enc []byte

func (e enc) u(v uint64) enc     { return binary.AppendUvarint(e, v) }
func (e enc) i(v int64) enc      { return binary.AppendVarint(e, v) }
func (e enc) bytes(v []byte) enc { return append(e.u(uint64(len(v))), v...) }
func (e enc) str(v string) enc   { return append(e.u(uint64(len(v))), v...) }
func (e enc) boolean(v bool) enc {
	if v {
		return append(e, 1)
	}
	return append(e, 0)
}

var errCorrupt = errors.New("corrupt snapshot")

// dec reads what enc wrote. The first error sticks and every later read returns zero values,
// so decoding code checks d.err once at the end; no input makes it panic or over-allocate.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *dec) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a collection length; each element takes at least minBytes, which bounds the
// allocation by the remaining input.
func (d *dec) count(minBytes int) int {
	v := d.u()
	if v > uint64(len(d.b)/max(minBytes, 1)) || v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *dec) raw() []byte {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	r := d.raw()
	if r == nil {
		return nil
	}
	return append([]byte{}, r...)
}

func (d *dec) str() string { return string(d.raw()) }

func (d *dec) boolean() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail()
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}
