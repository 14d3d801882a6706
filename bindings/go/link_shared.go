//go:build !httpbatch_static

package httpbatch

// The default link: the shared library, found through pkg-config (httpbatch.pc, installed by
// scripts/install-c.sh). Set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix pkg-config does
// not search, and let the dynamic loader find PREFIX/lib at run time (LD_LIBRARY_PATH, or a
// system prefix). Build with -tags httpbatch_static for a self-contained binary.

// #cgo pkg-config: httpbatch
import "C"
