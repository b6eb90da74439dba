//go:build !linux

package fsx

import "os"

func dataSync(f *os.File) error { return f.Sync() }
