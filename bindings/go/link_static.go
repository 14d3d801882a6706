//go:build httpbatch_static

package httpbatch

// With -tags httpbatch_static: the static library (httpbatch-static.pc, installed by
// scripts/install-c.sh), so the binary needs no libhttpbatch.so at run time.

// #cgo pkg-config: httpbatch-static
import "C"
